"""Parses the fixture mix N times with python-hl7's hl7.parse (Debian python3-hl7, run by
/usr/bin/python3), reading MSH-9, MSH-10 and PID-3 like bench_hl7v2 does; prints one JSON line.

Usage: /usr/bin/python3 python_hl7_bench.py <fixture dir> [iterations]
"""
import json
import os
import sys
import time

import hl7


def load(directory):
    out = []
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".hl7"):
            continue
        with open(os.path.join(directory, name), "rb") as f:
            text = f.read().decode("utf-8-sig")
        if text.startswith(("FHS", "BHS")):
            continue
        out.append(text.replace("\r\n", "\r").replace("\n", "\r"))
    return out


def main():
    directory = sys.argv[1]
    iterations = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    messages = load(directory)
    size = sum(len(m.encode("utf-8")) for m in messages)
    sink = 0

    def once():
        nonlocal sink
        for text in messages:
            msg = hl7.parse(text)
            msh = msg.segment("MSH")
            sink += len(str(msh[9])) + len(str(msh[10]))
            try:
                sink += len(str(msg.segment("PID")[3]))
            except KeyError:
                pass

    once()
    start = time.perf_counter()
    for _ in range(iterations):
        once()
    seconds = time.perf_counter() - start
    print(json.dumps({
        "parser": "python-hl7",
        "version": getattr(hl7, "__version__", "0.4.5"),
        "messages": len(messages) * iterations,
        "mb_per_s": size * iterations / seconds / 1e6,
        "msgs_per_s": len(messages) * iterations / seconds,
        "sink": sink,
    }))


if __name__ == "__main__":
    main()
