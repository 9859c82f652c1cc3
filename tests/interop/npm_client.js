// The npm `smpp` package as an ESME: binds to an SMSC, submits messages,
// and waits for a delivery receipt for each, checking that the receipt's id
// is the id the submit_sm_resp gave. Prints a JSON summary; exit 0 on success.
//   node npm_client.js PORT SYSTEM_ID PASSWORD COUNT
'use strict';
const smpp = require('smpp');
const [port, systemId, password, countArg] = process.argv.slice(2);
const count = Number(countArg || 10);

const texts = ['Hello from npm smpp', '你好，这是一条测试短信', 'Price: 10€ [promo] {x}'];
const ids = new Map();  // message_id -> index
const receipts = new Map();
let acked = 0;
const errors = [];

const deadline = setTimeout(() => finish('timed out'), 20000);

function finish(problem) {
  clearTimeout(deadline);
  const summary = { acked, receipts: receipts.size, errors, problem: problem || null };
  console.log(JSON.stringify(summary));
  process.exit(problem ? 1 : 0);
}

const session = smpp.connect({ url: `smpp://127.0.0.1:${port}` }, () => {
  session.bind_transceiver({ system_id: systemId, password }, (pdu) => {
    if (pdu.command_status !== 0) return finish(`bind failed with status ${pdu.command_status}`);
    for (let i = 0; i < count; i++) {
      session.submit_sm(
        {
          source_addr: '10690000',
          source_addr_ton: 5,
          destination_addr: '86138' + String(i).padStart(8, '0'),
          dest_addr_ton: 1,
          dest_addr_npi: 1,
          registered_delivery: 1,
          // 0: the SMSC default alphabet, which node-smpp encodes as GSM 03.38
          // (its "ASCII" is GSM too, under data_coding 1, unlike IA5 in SMPP 3.4
          // §5.2.19); 8: UCS-2 for the Chinese text.
          data_coding: /[^\x00-\x7f€]/.test(texts[i % texts.length]) ? 8 : 0,
          short_message: texts[i % texts.length],
        },
        (resp) => {
          if (resp.command_status !== 0) errors.push(resp.command_status);
          else ids.set(resp.message_id, i);
          acked++;
          check();
        }
      );
    }
  });
});

session.on('deliver_sm', (pdu) => {
  session.send(pdu.response());
  if (!(pdu.esm_class & 0x04)) return;
  const id = pdu.receipted_message_id || (/id:(\S+)/.exec(pdu.short_message.message) || [])[1];
  receipts.set(id, pdu.message_state);
  check();
});
session.on('error', (e) => finish('socket error: ' + e.message));

function check() {
  if (acked < count || receipts.size < ids.size) return;
  for (const id of ids.keys()) if (!receipts.has(id)) return finish(`no receipt for ${id}`);
  if (errors.length) return finish('submit errors');
  finish();
}
