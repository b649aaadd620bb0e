// Interop cases for the OpenAI TypeScript SDK against `turnwire serve`.
//
// Run as `node cases.mjs CASE`, with OPENAI_BASE_URL and OPENAI_API_KEY set. Each case
// checks what the SDK returned and prints one JSON object on its last line for the
// calling test to check further; a failed check exits non-zero with its stack.
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { VERSION as sdkVersion } from 'openai/version';

const MODEL = 'gpt-interop';

function report(fields) {
  console.log(JSON.stringify({ ...fields, sdk_version: sdkVersion }));
}

const cases = {
  async raw_stream() {
    const client = new OpenAI();
    const stream = await client.responses.create({ model: MODEL, input: 'Say hello.', stream: true });
    const types = [];
    const numbers = [];
    let text = '';
    let final;
    for await (const event of stream) {
      types.push(event.type);
      numbers.push(event.sequence_number);
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.completed') final = event.response;
    }
    assert.ok(final, `no response.completed in ${types}`);
    assert.ok(text.length > 0, 'no text deltas');
    assert.deepEqual(numbers, numbers.map((_, i) => numbers[0] + i), 'sequence numbers count up');
    assert.equal(final.output_text ?? outputText(final), text);
    report({ types, text, model: final.model });
  },

  async stream_helper() {
    const client = new OpenAI();
    const stream = client.responses.stream({ model: MODEL, input: 'Say hello.' });
    let text = '';
    stream.on('response.output_text.delta', (event) => {
      text += event.delta;
    });
    const final = await stream.finalResponse();
    assert.ok(text.length > 0, 'no text deltas');
    assert.equal(final.output_text, text);
    assert.equal(final.status, 'completed');
    report({ text, id: final.id, model: final.model });
  },

  async non_stream() {
    const client = new OpenAI();
    const response = await client.responses.create({ model: MODEL, input: 'Say hello.' });
    assert.equal(typeof response, 'object');
    assert.equal(response.object, 'response');
    assert.equal(response.status, 'completed');
    assert.ok(response.output_text.length > 0, 'no text');
    report({ text: response.output_text, id: response.id, model: response.model });
  },
};

// The text of a response's message items, for a raw `Response` object (the SDK adds
// `output_text` only to what its helpers return).
function outputText(response) {
  return response.output
    .filter((item) => item.type === 'message')
    .flatMap((item) => item.content)
    .filter((part) => part.type === 'output_text')
    .map((part) => part.text)
    .join('');
}

const name = process.argv[2];
if (!(name in cases)) {
  console.error(`unknown case ${name}; cases: ${Object.keys(cases).join(', ')}`);
  process.exit(2);
}
await cases[name]();
