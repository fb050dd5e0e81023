#!/usr/bin/env python3
"""Writes a large, valid X12 file by repeating the claims of a valid fixture, so that throughput
is measured on realistic sizes (payers send 835s and clearinghouses 837s of tens of MB).

    make_large.py 837 fixtures/x12/valid/837P_professional.x12 OUT.x12 20
    make_large.py 835 fixtures/x12/valid/835_two_claims_balanced.x12 OUT.x12 20

837: the subscriber hierarchies (from the first HL with HL03=22 to SE) are repeated with HL01/HL02
renumbered and CLM01 made unique. 835: the LX/CLP blocks (from the first LX to PLB) are repeated
with LX01 renumbered, CLP01 made unique, and BPR02 recomputed as sum(CLP04) - sum(PLB amounts),
so the remittance still balances. SE01 is recounted; one interchange, one group, one set.
"""
import sys
from decimal import Decimal


def read(path):
    raw = open(path, newline="").read()
    element, term = raw[3], raw[105]
    segs = []
    for piece in raw.split(term):
        piece = piece.strip("\r\n")
        if piece:
            segs.append(piece.split(element))
    return segs, element, term


def write(path, segs, element, term):
    with open(path, "w", newline="") as f:
        for s in segs:
            f.write(element.join(s) + term + "\n")


def index_of(segs, pred, start=0):
    for i in range(start, len(segs)):
        if pred(segs[i]):
            return i
    raise SystemExit("fixture does not have the expected shape")


def money(d):
    # X12 R type: no trailing zeros needed ("422.5"), never an exponent.
    return format(d.quantize(Decimal("0.01")).normalize(), "f")


def size(segs):
    return sum(sum(len(e) for e in s) + len(s) + 1 for s in segs)  # + delimiters, "~\n"


def repeat_837(segs, target):
    st = index_of(segs, lambda s: s[0] == "ST")
    se = index_of(segs, lambda s: s[0] == "SE", st)
    first = index_of(segs, lambda s: s[0] == "HL" and s[3] == "22", st)
    head, block = segs[st + 1:first], segs[first:se]
    reps = max(1, round(target / size(block)))
    block_hls = {s[1] for s in block if s[0] == "HL"}
    last_hl = max(int(s[1]) for s in segs[st:se] if s[0] == "HL")
    first_hl = min(int(h) for h in block_hls)
    body = list(head)
    for r in range(reps):
        offset = r * (last_hl - first_hl + 1)
        for s in block:
            s = list(s)
            if s[0] == "HL":
                s[1] = str(int(s[1]) + offset)
                if s[2] in block_hls:  # a parent inside the block moves with it
                    s[2] = str(int(s[2]) + offset)
            elif s[0] == "CLM":
                s[1] = f"{s[1][:28]}R{r}"
            body.append(s)
    return segs[:st + 1] + body + [[segs[se][0], str(len(body) + 2), segs[se][2]]] + segs[se + 1:]


def repeat_835(segs, target):
    st = index_of(segs, lambda s: s[0] == "ST")
    se = index_of(segs, lambda s: s[0] == "SE", st)
    first = index_of(segs, lambda s: s[0] == "LX", st)
    plb = index_of(segs, lambda s: s[0] == "PLB", first)
    head, block, tail = segs[st + 1:first], segs[first:plb], segs[plb:se]
    reps = max(1, round(target / size(block)))
    body = [list(s) for s in head]
    lx = 0
    paid = Decimal(0)
    for r in range(reps):
        for s in block:
            s = list(s)
            if s[0] == "LX":
                lx += 1
                s[1] = str(lx)
            elif s[0] == "CLP":
                s[1] = f"{s[1][:28]}R{r}"
                paid += Decimal(s[4])
            body.append(s)
    adjustments = Decimal(0)
    for s in tail:
        if s[0] == "PLB":
            adjustments += sum(Decimal(a) for a in s[4::2] if a)
    bpr = next(s for s in body if s[0] == "BPR")
    bpr[2] = money(paid - adjustments)
    body += tail
    return segs[:st + 1] + body + [[segs[se][0], str(len(body) + 2), segs[se][2]]] + segs[se + 1:]


def main():
    kind, src, out, mb = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    segs, element, term = read(src)
    if kind == "837":
        result = repeat_837(segs, mb * 1e6)
    elif kind == "835":
        result = repeat_835(segs, mb * 1e6)
    else:
        raise SystemExit("kind must be 837 or 835")
    write(out, result, element, term)


if __name__ == "__main__":
    main()
