// A real HL7 MLLP server from another implementation (@medplum/hl7's Hl7Server): parses every
// message with @medplum/core and answers its own ACK (AA). Used by the interop test and, as the
// "parse and ACK, no store" baseline, by bench/mllp.
// usage: node medplum_hl7_server.mjs PORT
import { Hl7Server } from '@medplum/hl7';

const port = Number(process.argv[2] || 2576);
let count = 0;
const server = new Hl7Server((connection) => {
  connection.addEventListener('message', ({ message }) => {
    count++;
    connection.send(message.buildAck());
  });
});
await server.start(port);
console.log(`listening ${port}`);
const shutdown = async () => {
  console.log(`received ${count}`);
  await server.stop();
  process.exit(0);
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
