// Parses the fixture mix N times with @medplum/core's Hl7Message.parse, reading MSH-9, MSH-10
// and PID-3 like bench_hl7v2 does, and prints one JSON line.
// Usage: node medplum_bench.mjs <fixture dir> [iterations]
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hl7Message } from '@medplum/core';

const dir = process.argv[2];
const iterations = Number(process.argv[3] ?? 2000);
const version = JSON.parse(
  readFileSync(
    join(dirname(fileURLToPath(import.meta.url)), 'node_modules/@medplum/core/package.json'),
    'utf8',
  ),
).version;

const messages = readdirSync(dir)
  .filter((f) => f.endsWith('.hl7'))
  .sort()
  .map((f) => readFileSync(join(dir, f), 'utf8').replace(/^\uFEFF/, ''))
  .filter((t) => !t.startsWith('FHS') && !t.startsWith('BHS'))
  .map((t) => t.replace(/\r\n/g, '\r').replace(/\n/g, '\r'));
const bytes = messages.reduce((n, m) => n + Buffer.byteLength(m, 'utf8'), 0);

let sink = 0;
function once() {
  for (const text of messages) {
    const msg = Hl7Message.parse(text);
    const msh = msg.getSegment('MSH');
    sink += msh.getField(9).toString().length + msh.getField(10).toString().length;
    const pid = msg.getSegment('PID');
    if (pid) sink += pid.getField(3).toString().length;
  }
}

for (let i = 0; i < Math.min(200, iterations); i++) once();  // let the JIT settle
const start = process.hrtime.bigint();
for (let i = 0; i < iterations; i++) once();
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
console.log(
  JSON.stringify({
    parser: 'medplum',
    version,
    messages: messages.length * iterations,
    mb_per_s: (bytes * iterations) / seconds / 1e6,
    msgs_per_s: (messages.length * iterations) / seconds,
    sink,
  }),
);
