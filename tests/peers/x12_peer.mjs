// An independent X12 reader for Switchboard's agreement test and benchmark: npm node-x12's
// X12Parser (another implementation, another language) parses each file given on argv.
//
// Usage:
//   node x12_peer.mjs FILE...             one JSON line per file (counts, see below)
//   node x12_peer.mjs --bench N FILE...   parses every file N times, prints one JSON line (MB/s)
//
// Counts per file:
//   interchanges, groups, transactions  from node-x12's object model (X12Interchange /
//                                       X12FatInterchange, functionalGroups, transactions)
//   segments, segmentsById              every segment node-x12's segmenter emits, envelopes and
//                                       TA1 included (the object model drops segments that sit
//                                       outside a transaction set, so these come from its
//                                       documented stream interface, which emits every segment)
//   modelSegments                       segments the object model holds (ISA/IEA, GS/GE, ST..SE)
//   hlByLevel                           HL segments by HL03 (hierarchical level code)
//   sets                                per transaction set, in order: id (ST01), control (ST02),
//                                       convention (ST03, else GS08), segments (ST..SE),
//                                       segmentsById, hlByLevel
//   strict                              true when node-x12 accepted the file in strict mode.
//                                       Strict mode throws on the first envelope slip (SE01,
//                                       GE01, IEA01 counts, control number pairs, segments
//                                       outside a transaction); the file is then read again
//                                       in lenient mode and strictError says why. Lenient mode
//                                       merges several ISA into one interchange, so there
//                                       interchanges is the number of ISA segments.
import { readFileSync } from 'node:fs';
import { X12Parser } from 'node-x12';

function countInto(map, key) {
  map[key] = (map[key] ?? 0) + 1;
}

// All segments via the stream interface (X12Parser is a Transform emitting X12Segment objects).
// Lenient: the stream's flush complains about a missing group in strict mode even when there
// is one (node-x12 1.7.1), and this pass only segments, it does not judge.
function streamSegments(text) {
  return new Promise((resolve, reject) => {
    const parser = new X12Parser(false);
    const tags = [];
    parser.on('data', (segment) => tags.push(segment.tag));
    parser.on('error', reject);
    parser.on('end', () => resolve(tags));
    parser.write(text);
    parser.end();
  });
}

// A fresh parser per document: X12Parser keeps its interchange between parse() calls.
function parseModel(text) {
  try {
    return { result: new X12Parser(true).parse(text), strict: true };
  } catch (e) {
    const lenient = new X12Parser(false);
    const result = lenient.parse(text);
    return {
      result,
      strict: false,
      strictError: String(e.message ?? e),
      diagnostics: lenient.diagnostics.length,
    };
  }
}

function interchangesOf(result) {
  if (result === undefined) return [];
  return Array.isArray(result.interchanges) ? [...result.interchanges] : [result];
}

async function describe(file) {
  const text = readFileSync(file, 'utf8');
  const tags = await streamSegments(text);
  const { result, strict, strictError, diagnostics } = parseModel(text);
  const interchanges = interchangesOf(result);

  const segmentsById = {};
  for (const tag of tags) countInto(segmentsById, tag);

  let groups = 0;
  let transactions = 0;
  let modelSegments = 0;
  const hlByLevel = {};
  const sets = [];
  for (const ic of interchanges) {
    if (ic.header) modelSegments++;
    if (ic.trailer) modelSegments++;
    for (const g of ic.functionalGroups) {
      groups++;
      if (g.header) modelSegments++;
      if (g.trailer) modelSegments++;
      for (const t of g.transactions) {
        transactions++;
        const set = {
          id: t.header?.valueOf(1) ?? null,
          control: t.header?.valueOf(2) ?? null,
          convention: t.header?.valueOf(3) || g.header?.valueOf(8) || null,
          segments: t.segments.length + (t.header ? 1 : 0) + (t.trailer ? 1 : 0),
          segmentsById: {},
          hlByLevel: {},
        };
        if (t.header) countInto(set.segmentsById, 'ST');
        for (const s of t.segments) {
          countInto(set.segmentsById, s.tag);
          if (s.tag === 'HL') {
            const level = s.valueOf(3, '');
            countInto(set.hlByLevel, level);
            countInto(hlByLevel, level);
          }
        }
        if (t.trailer) countInto(set.segmentsById, 'SE');
        modelSegments += set.segments;
        sets.push(set);
      }
    }
  }

  const out = {
    file,
    interchanges: strict ? interchanges.length : (segmentsById.ISA ?? 0),
    groups,
    transactions,
    segments: tags.length,
    segmentsById,
    modelSegments,
    hlByLevel,
    sets,
    strict,
  };
  if (!strict) {
    out.strictError = strictError;
    out.diagnostics = diagnostics;
  }
  return out;
}

// Parse (segments + envelopes into the object model) N times per file; wall clock, like
// bench_x12. Strict where node-x12 accepts the file, else lenient (the bench inputs are valid).
function bench(files, iterations) {
  const texts = files.map((f) => readFileSync(f, 'utf8'));
  const strictOk = texts.map((t) => {
    try {
      new X12Parser(true).parse(t);
      return true;
    } catch {
      return false;
    }
  });
  const bytes = texts.reduce((n, t) => n + Buffer.byteLength(t, 'utf8'), 0);
  let sink = 0;
  const once = () => {
    texts.forEach((t, i) => {
      const r = new X12Parser(strictOk[i]).parse(t);
      for (const ic of interchangesOf(r)) sink += ic.functionalGroups.length;
    });
  };
  once();  // warm the JIT
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) once();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const version = JSON.parse(
    readFileSync(new URL('./node_modules/node-x12/package.json', import.meta.url), 'utf8'),
  ).version;
  return {
    parser: 'node-x12',
    version,
    files: files.length,
    bytes,
    iterations,
    strict_files: strictOk.filter(Boolean).length,
    seconds,
    mb_per_s: (bytes * iterations) / seconds / 1e6,
    sink,
  };
}

const args = process.argv.slice(2);
if (args[0] === '--bench') {
  const iterations = Number(args[1]);
  if (!Number.isInteger(iterations) || iterations < 1 || args.length < 3) {
    console.error('usage: node x12_peer.mjs --bench N FILE...');
    process.exitCode = 2;
  } else {
    console.log(JSON.stringify(bench(args.slice(2), iterations)));
  }
} else if (args.length === 0) {
  console.error('usage: node x12_peer.mjs FILE... | --bench N FILE...');
  process.exitCode = 2;
} else {
  // exitCode, not process.exit(): exit() drops what is still queued for a piped stdout.
  for (const file of args) {
    try {
      console.log(JSON.stringify(await describe(file)));
    } catch (e) {
      // One line per file even when node-x12 cannot read it, so callers can match lines to files.
      process.exitCode = 1;
      console.log(JSON.stringify({ file, error: String(e.message ?? e) }));
    }
  }
}
