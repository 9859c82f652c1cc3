// The npm `smpp` package as an SMSC: accepts a bind, answers every submit_sm
// with an id and sends a delivery receipt for it. Writes its port to
// PORT_FILE once listening, and its counters to STATS_FILE on SIGTERM.
//   node npm_server.js PORT_FILE STATS_FILE SYSTEM_ID PASSWORD
'use strict';
const fs = require('fs');
const smpp = require('smpp');
const [portFile, statsFile, systemId, password] = process.argv.slice(2);
const stats = { binds: 0, bind_rejected: 0, submits: 0, receipts_acked: 0 };
let next = 1;

const server = smpp.createServer((session) => {
  session.on('bind_transceiver', (pdu) => {
    if (pdu.system_id !== systemId || pdu.password !== password) {
      stats.bind_rejected++;
      session.send(pdu.response({ command_status: smpp.ESME_RINVPASWD }));
      return;
    }
    stats.binds++;
    session.send(pdu.response({ system_id: 'npmsmsc' }));
  });
  session.on('enquire_link', (pdu) => session.send(pdu.response()));
  session.on('unbind', (pdu) => { session.send(pdu.response()); session.close(); });
  session.on('submit_sm', (pdu) => {
    stats.submits++;
    const id = 'npm' + next++;
    session.send(pdu.response({ message_id: id }));
    if (pdu.registered_delivery & 1) {
      session.deliver_sm(
        {
          source_addr: pdu.destination_addr,
          destination_addr: pdu.source_addr,
          esm_class: 0x04,
          short_message: `id:${id} sub:001 dlvrd:001 submit date:2611231200 done date:2611231200 stat:DELIVRD err:000 text:`,
          receipted_message_id: id,
          message_state: 2,
        },
        (resp) => { if (resp.command_status === 0) stats.receipts_acked++; }
      );
    }
  });
  session.on('error', () => {});
});

server.listen(0, '127.0.0.1', () => {
  const tmp = portFile + '.tmp';
  fs.writeFileSync(tmp, String(server.address().port));
  fs.renameSync(tmp, portFile);
});
process.on('SIGTERM', () => {
  fs.writeFileSync(statsFile, JSON.stringify(stats));
  process.exit(0);
});
