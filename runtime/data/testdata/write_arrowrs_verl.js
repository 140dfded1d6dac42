// Writes a verl-shaped parquet file with arrow-rs (parquet-wasm), the way
// HF datasets/pyarrow lay it out, to check realc's reader against an
// independent writer.
const arrow = require('apache-arrow');
const pq = require('parquet-wasm/node');
const fs = require('fs');
const { Utf8, Int64, Float64, List, Struct, Field, Bool, vectorFromArray, Table, tableToIPC } = arrow;

const msg = new Struct([new Field('content', new Utf8(), true), new Field('role', new Utf8(), true)]);
const rows = [];
for (let i = 0; i < 50; i++) {
  rows.push({
    data_source: 'prometheus-eval/Feedback-Collection',
    prompt: [{ content: `###Task Description:\nitem ${i} ✓`, role: 'user' }],
    ability: 'math',
    reward_model: { ground_truth: String(1 + (i % 5)), style: 'rule' },
    extra_info: { index: BigInt(i), split: 'train', reward_design: false, question: `q${i}`, answer: `a${i}` },
    __index_level_0__: BigInt(1000 + i),
  });
}
rows[7].prompt = null;            // a null prompt
rows[9].reward_model = { ground_truth: null, style: 'rule' };
const types = {
  data_source: new Utf8(),
  prompt: new List(new Field('element', msg, true)),
  ability: new Utf8(),
  reward_model: new Struct([new Field('ground_truth', new Utf8(), true), new Field('style', new Utf8(), true)]),
  extra_info: new Struct([
    new Field('answer', new Utf8(), true), new Field('index', new Int64(), true),
    new Field('question', new Utf8(), true), new Field('reward_design', new Bool(), true), new Field('split', new Utf8(), true)]),
  __index_level_0__: new Int64(),
};
const cols = {};
for (const k of Object.keys(types)) cols[k] = vectorFromArray(rows.map(r => r[k]), types[k]);
const table = new Table(cols);
const ipc = tableToIPC(table, 'stream');
const wt = pq.Table.fromIPCStream(ipc);
const props = new pq.WriterPropertiesBuilder().setMaxRowGroupSize(20).setCompression(pq.Compression.SNAPPY).build();
fs.writeFileSync(process.argv[2], pq.writeParquet(wt, props));
console.log('wrote', process.argv[2]);
