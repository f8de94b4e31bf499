// Drives @anthropic-ai/sdk's message-thread helpers against the gateway: beta.messages.thread (two turns) and
// beta.messages.toolRunner (one tool round). Prints one JSON line with what the client got.
const Anthropic = require('@anthropic-ai/sdk').default;

const client = new Anthropic({ baseURL: process.env.GAPURA_URL, apiKey: process.env.GAPURA_KEY, maxRetries: 0 });
const model = 'claude-sonnet-4-5';

(async () => {
  const thread = client.beta.messages.thread({ model, max_tokens: 256 });
  const first = await thread.send({ role: 'user', content: 'THREAD-Q1' });
  const second = await thread.send({ role: 'user', content: 'THREAD-Q2' });

  const runner = client.beta.messages.toolRunner({
    model, max_tokens: 256,
    messages: [{ role: 'user', content: 'RUNNER-Q' }],
    tools: [{
      name: 'get_weather', description: 'Current weather for a city',
      input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      run: async (input) => 'RUNNER-RESULT ' + input.city,
    }],
  });
  const final = await runner;
  const text = (m) => m.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
  console.log(JSON.stringify({ first: text(first), second: text(second), final: text(final) }));
})().catch((e) => { console.error(String(e && e.stack || e)); process.exit(1); });
