// An independent SMPP encoder/decoder for cross-checks: the npm `smpp`
// package, driven with JSON on stdin.
//   {"op":"encode","command":"submit_sm","fields":{...}}  -> {"hex":"..."}
//   {"op":"decode","hex":"..."}                           -> {"command":..., "fields":{...}}
// Byte fields are given and returned as {"hex":"..."}.
'use strict';
const smpp = require('smpp');

function fromJson(v) {
  if (v && typeof v === 'object' && typeof v.hex === 'string') return Buffer.from(v.hex, 'hex');
  return v;
}
function toJson(v) {
  if (Buffer.isBuffer(v)) return { hex: v.toString('hex') };
  if (v && typeof v === 'object' && v.message !== undefined) {
    // short_message filtered into {udh, message}; give back raw bytes
    const parts = [];
    if (v.udh) parts.push(...v.udh.map((u) => Buffer.from(u)));
    parts.push(Buffer.isBuffer(v.message) ? v.message : Buffer.from(String(v.message)));
    return { hex: Buffer.concat(parts).toString('hex') };
  }
  return v;
}

let input = '';
process.stdin.on('data', (d) => (input += d));
process.stdin.on('end', () => {
  const req = JSON.parse(input);
  if (req.op === 'encode') {
    const opts = {};
    for (const [k, v] of Object.entries(req.fields || {})) opts[k] = fromJson(v);
    const pdu = new smpp.PDU(req.command, opts);
    process.stdout.write(JSON.stringify({ hex: pdu.toBuffer().toString('hex') }));
  } else if (req.op === 'decode') {
    const pdu = smpp.PDU.fromBuffer(Buffer.from(req.hex, 'hex'));
    if (!pdu) throw new Error('not a whole PDU');
    const fields = {};
    for (const [k, v] of Object.entries(pdu)) {
      if (typeof v !== 'function') fields[k] = toJson(v);
    }
    process.stdout.write(JSON.stringify({ command: pdu.command, fields }));
  } else {
    throw new Error('unknown op ' + req.op);
  }
});
