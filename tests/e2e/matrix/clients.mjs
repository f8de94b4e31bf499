// The client matrix's driver: runs every scenario through one real client library against the gateway and prints one
// JSON line per scenario — {"scenario", "ok", "got", "error"} — for tests/Gapura.Tests/Matrix/ClientMatrixTests.cs to
// check, together with what the simulated upstream received (each prompt carries a "[case:<client>/<scenario>]" marker).
//
//   node clients.mjs <client> <gateway base URL> <api key> <model> [scenario…]
//
// The simulators answer prompts by directive: "[[tool:NAME {json}]]" makes the model call a tool (several make parallel
// calls), a tool result is echoed as "Tool said: …", a forced tool (structured output) gets an answer built from its schema.
import { Buffer } from 'node:buffer';

const [client, baseUrl, apiKey, model, ...only] = process.argv.slice(2);
if (!client || !baseUrl || !apiKey || !model) {
  console.error('usage: node clients.mjs <client> <base URL> <api key> <model> [scenario…]');
  process.exit(2);
}

// A 1×1 PNG: what the upstream must receive, byte for byte.
export const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
const WEATHER_SCHEMA = {
  type: 'object',
  properties: { city: { type: 'string' }, celsius: { type: 'number' } },
  required: ['city', 'celsius'],
  additionalProperties: false,
};
const CITY_SCHEMA = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false };
const weather = ({ city }) => `${city}: 31 degrees`;
const marker = (scenario) => `[case:${client}/${scenario}]`;

const clients = {
  'openai-chat': () => openAiSdk('chat'),
  'openai-responses': () => openAiSdk('responses'),
  'anthropic-sdk': () => anthropicSdk(),
  'ai-sdk-openai-responses': () => aiSdk('openai-responses'),
  'ai-sdk-openai-chat': () => aiSdk('openai-chat'),
  'ai-sdk-anthropic': () => aiSdk('anthropic'),
  'ai-sdk-openai-compatible': () => aiSdk('openai-compatible'),
  'langchain-openai': () => langChain('openai'),
  'langchain-anthropic': () => langChain('anthropic'),
  // The coding-agent CLIs (clis.mjs): one process per scenario, so their scenarios run three at a time.
  'claude-code': async () => (await import('./clis.mjs')).claudeCode(cli),
  'codex-cli': async () => (await import('./clis.mjs')).codexCli(cli),
  'opencode': async () => (await import('./clis.mjs')).openCode(cli),
};
const cli = { baseUrl, apiKey, model, marker, png: PNG };
const cliClients = new Set(['claude-code', 'codex-cli', 'opencode']);

// ---------------------------------------------------------------------------------------------------- official SDKs

async function openAiSdk(api) {
  const { default: OpenAI } = await import('openai');
  const openai = new OpenAI({ apiKey, baseURL: `${baseUrl}/v1`, maxRetries: 0 });
  const chat = api === 'chat';
  const ask = async (s, input, extra = {}) => chat
    ? (await openai.chat.completions.create({ model, messages: [{ role: 'user', content: input }], ...extra })).choices[0].message.content
    : (await openai.responses.create({ model, input, ...extra })).output_text;
  const fnTool = chat
    ? { type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: CITY_SCHEMA } }
    : { type: 'function', name: 'get_weather', description: 'Weather for a city', parameters: CITY_SCHEMA, strict: false };

  async function toolLoop(s, prompt) {
    if (chat) {
      const messages = [{ role: 'user', content: prompt }];
      for (let step = 0; step < 4; step++) {
        const message = (await openai.chat.completions.create({ model, messages, tools: [fnTool] })).choices[0].message;
        messages.push(message);
        if (!message.tool_calls?.length) return { text: message.content, steps: step + 1 };
        for (const call of message.tool_calls)
          messages.push({ role: 'tool', tool_call_id: call.id, content: weather(JSON.parse(call.function.arguments)) });
      }
      throw new Error('the tool loop did not end');
    }
    let input = [{ role: 'user', content: prompt }];
    for (let step = 0; step < 4; step++) {
      const response = await openai.responses.create({ model, input, tools: [fnTool] });
      const calls = response.output.filter((o) => o.type === 'function_call');
      if (!calls.length) return { text: response.output_text, steps: step + 1 };
      input = [...input, ...response.output.filter((o) => o.type !== 'reasoning'),
        ...calls.map((c) => ({ type: 'function_call_output', call_id: c.call_id, output: weather(JSON.parse(c.arguments)) }))];
    }
    throw new Error('the tool loop did not end');
  }

  return {
    text: async (s) => ({ text: await ask(s, `Say hello ${marker(s)}`) }),
    stream: async (s) => {
      let text = '';
      let chunks = 0;
      if (chat) {
        const stream = await openai.chat.completions.create({ model, stream: true, messages: [{ role: 'user', content: `Stream please ${marker(s)}` }] });
        for await (const chunk of stream) { const d = chunk.choices[0]?.delta?.content; if (d) { text += d; chunks++; } }
      } else {
        const stream = await openai.responses.create({ model, stream: true, input: `Stream please ${marker(s)}` });
        for await (const event of stream) if (event.type === 'response.output_text.delta') { text += event.delta; chunks++; }
      }
      return { text, chunks };
    },
    tools: (s) => toolLoop(s, `Weather? ${marker(s)} [[tool:get_weather {"city":"Jakarta"}]]`),
    parallel_tools: (s) => toolLoop(s, `Two cities ${marker(s)} [[tool:get_weather {"city":"Oslo"}]] [[tool:get_weather {"city":"Lima"}]]`),
    structured: async (s) => {
      if (chat) {
        const { zodResponseFormat } = await import('openai/helpers/zod');
        const { z } = await import('zod');
        const format = zodResponseFormat(z.object({ city: z.string(), celsius: z.number() }), 'weather_report');
        const completion = await openai.chat.completions.parse({ model, messages: [{ role: 'user', content: `Weather report ${marker(s)}` }], response_format: format });
        return { object: completion.choices[0].message.parsed };
      }
      const response = await openai.responses.parse({
        model, input: `Weather report ${marker(s)}`,
        text: { format: { type: 'json_schema', name: 'weather_report', schema: WEATHER_SCHEMA, strict: true } },
      });
      return { object: response.output_parsed };
    },
    image: async (s) => {
      const url = `data:image/png;base64,${PNG}`;
      return { text: chat
        ? (await openai.chat.completions.create({ model, messages: [{ role: 'user', content: [{ type: 'text', text: `What is this? ${marker(s)}` }, { type: 'image_url', image_url: { url } }] }] })).choices[0].message.content
        : (await openai.responses.create({ model, input: [{ role: 'user', content: [{ type: 'input_text', text: `What is this? ${marker(s)}` }, { type: 'input_image', image_url: url }] }] })).output_text };
    },
    thinking: async (s) => {
      if (chat) {
        const message = (await openai.chat.completions.create({ model, reasoning_effort: 'medium', max_tokens: 4000, messages: [{ role: 'user', content: `Think first ${marker(s)}` }] })).choices[0].message;
        return { text: message.content, reasoning: message.reasoning_content ?? '' };
      }
      const response = await openai.responses.create({ model, reasoning: { effort: 'medium', summary: 'auto' }, max_output_tokens: 4000, input: `Think first ${marker(s)}` });
      const reasoning = response.output.filter((o) => o.type === 'reasoning').flatMap((o) => o.summary ?? []).map((p) => p.text).join('');
      return { text: response.output_text, reasoning };
    },
    error: async (s) => {
      try {
        await ask(s, `hi ${marker(s)}`, { model: 'no-such-model-anywhere' });
        return { error: null };
      } catch (e) {
        return { status: e.status, type: e.error?.type ?? e.type, message: e.message };
      }
    },
    keepalive: async (s) => ({ text: await ask(s, `Take your time ${marker(s)} [[slow:2500]]`) }),
  };
}

async function anthropicSdk() {
  const { default: Anthropic } = await import('@anthropic-ai/sdk');
  const anthropic = new Anthropic({ apiKey, baseURL: baseUrl, maxRetries: 0 });
  const text = (message) => message.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
  const create = (s, content, extra = {}) => anthropic.messages.create({ model, max_tokens: 1024, messages: [{ role: 'user', content }], ...extra });
  const tool = { name: 'get_weather', description: 'Weather for a city', input_schema: CITY_SCHEMA };

  async function toolLoop(s, prompt) {
    const messages = [{ role: 'user', content: prompt }];
    for (let step = 0; step < 4; step++) {
      const message = await anthropic.messages.create({ model, max_tokens: 1024, messages, tools: [tool] });
      messages.push({ role: 'assistant', content: message.content });
      const uses = message.content.filter((b) => b.type === 'tool_use');
      if (!uses.length) return { text: text(message), steps: step + 1 };
      messages.push({ role: 'user', content: uses.map((u) => ({ type: 'tool_result', tool_use_id: u.id, content: weather(u.input) })) });
    }
    throw new Error('the tool loop did not end');
  }

  return {
    text: async (s) => ({ text: text(await create(s, `Say hello ${marker(s)}`)) }),
    stream: async (s) => {
      let out = '';
      let chunks = 0;
      const stream = anthropic.messages.stream({ model, max_tokens: 1024, messages: [{ role: 'user', content: `Stream please ${marker(s)}` }] });
      stream.on('text', (t) => { out += t; chunks++; });
      const final = await stream.finalMessage();
      return { text: out, chunks, stop: final.stop_reason };
    },
    tools: (s) => toolLoop(s, `Weather? ${marker(s)} [[tool:get_weather {"city":"Jakarta"}]]`),
    parallel_tools: (s) => toolLoop(s, `Two cities ${marker(s)} [[tool:get_weather {"city":"Oslo"}]] [[tool:get_weather {"city":"Lima"}]]`),
    structured: async (s) => {
      const message = await anthropic.messages.create({
        model, max_tokens: 1024, messages: [{ role: 'user', content: `Weather report ${marker(s)}` }],
        output_config: { format: { type: 'json_schema', schema: WEATHER_SCHEMA } },
      });
      return { object: JSON.parse(text(message)) };
    },
    image: async (s) => ({ text: text(await create(s, [
      { type: 'text', text: `What is this? ${marker(s)}` },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
    ])) }),
    thinking: async (s) => {
      const message = await anthropic.messages.create({
        model, max_tokens: 4000, thinking: { type: 'enabled', budget_tokens: 2000 }, messages: [{ role: 'user', content: `Think first ${marker(s)}` }],
      });
      return { text: text(message), reasoning: message.content.filter((b) => b.type === 'thinking').map((b) => b.thinking).join('') };
    },
    error: async (s) => {
      try {
        await create(s, `hi ${marker(s)}`, { model: 'no-such-model-anywhere' });
        return { error: null };
      } catch (e) {
        return { status: e.status, type: e.error?.error?.type, message: e.message };
      }
    },
    keepalive: async (s) => {
      const stream = anthropic.messages.stream({ model, max_tokens: 1024, messages: [{ role: 'user', content: `Take your time ${marker(s)} [[slow:2500]]` }] });
      return { text: text(await stream.finalMessage()) };
    },
  };
}

// ------------------------------------------------------------------------------------------------------ Vercel AI SDK

async function aiSdk(flavour) {
  const ai = await import('ai');
  const { z } = await import('zod');
  let languageModel;
  if (flavour.startsWith('openai-') && flavour !== 'openai-compatible') {
    const { createOpenAI } = await import('@ai-sdk/openai');
    const provider = createOpenAI({ apiKey, baseURL: `${baseUrl}/v1` });
    languageModel = flavour === 'openai-chat' ? provider.chat(model) : provider.responses(model);
  } else if (flavour === 'anthropic') {
    const { createAnthropic } = await import('@ai-sdk/anthropic');
    languageModel = createAnthropic({ apiKey, baseURL: `${baseUrl}/v1` })(model);
  } else {
    const { createOpenAICompatible } = await import('@ai-sdk/openai-compatible');
    languageModel = createOpenAICompatible({ name: 'gapura', apiKey, baseURL: `${baseUrl}/v1`, supportsStructuredOutputs: true })(model);
  }
  const tools = { get_weather: ai.tool({ description: 'Weather for a city', inputSchema: z.object({ city: z.string() }), execute: async (input) => weather(input) }) };
  const loop = async (s, prompt) => {
    const result = await ai.generateText({ model: languageModel, prompt, tools, stopWhen: ai.stepCountIs(5), maxRetries: 0 });
    return { text: result.text, steps: result.steps.length, calls: result.steps.flatMap((st) => st.toolCalls).length };
  };
  const thinkingOptions = flavour === 'anthropic'
    ? { anthropic: { thinking: { type: 'enabled', budgetTokens: 2000 } } }
    : flavour === 'openai-compatible' ? { gapura: { reasoningEffort: 'medium' } }
    // The SDK sends an effort only to models it knows reason (o-series, gpt-5); forceReasoning says this one does.
    : { openai: { reasoningEffort: 'medium', reasoningSummary: 'auto', forceReasoning: true } };

  return {
    text: async (s) => ({ text: (await ai.generateText({ model: languageModel, prompt: `Say hello ${marker(s)}`, maxRetries: 0 })).text }),
    stream: async (s) => {
      const result = ai.streamText({ model: languageModel, prompt: `Stream please ${marker(s)}`, maxRetries: 0, onError: () => {} });
      let text = '';
      let chunks = 0;
      for await (const delta of result.textStream) { text += delta; chunks++; }
      return { text, chunks, finish: await result.finishReason };
    },
    tools: (s) => loop(s, `Weather? ${marker(s)} [[tool:get_weather {"city":"Jakarta"}]]`),
    parallel_tools: (s) => loop(s, `Two cities ${marker(s)} [[tool:get_weather {"city":"Oslo"}]] [[tool:get_weather {"city":"Lima"}]]`),
    structured: async (s) => {
      const result = await ai.generateObject({
        model: languageModel, prompt: `Weather report ${marker(s)}`, maxRetries: 0,
        schema: z.object({ city: z.string(), celsius: z.number() }), schemaName: 'weather_report',
      });
      return { object: result.object };
    },
    image: async (s) => ({ text: (await ai.generateText({
      model: languageModel, maxRetries: 0,
      messages: [{ role: 'user', content: [{ type: 'text', text: `What is this? ${marker(s)}` }, { type: 'image', image: Buffer.from(PNG, 'base64'), mediaType: 'image/png' }] }],
    })).text }),
    thinking: async (s) => {
      const result = await ai.generateText({ model: languageModel, prompt: `Think first ${marker(s)}`, maxOutputTokens: 4000, providerOptions: thinkingOptions, maxRetries: 0 });
      return { text: result.text, reasoning: result.reasoningText ?? '' };
    },
    error: async (s) => {
      try {
        await ai.generateText({ model: await otherModel(flavour), prompt: `hi ${marker(s)}`, maxRetries: 0 });
        return { error: null };
      } catch (e) {
        return { status: e.statusCode ?? e.lastError?.statusCode, message: e.message };
      }
    },
    keepalive: async (s) => {
      const result = ai.streamText({ model: languageModel, prompt: `Take your time ${marker(s)} [[slow:2500]]`, maxRetries: 0, onError: () => {} });
      let text = '';
      for await (const delta of result.textStream) text += delta;
      return { text };
    },
  };
}

/** The same provider as the flavour, asked for a model no upstream serves. */
async function otherModel(flavour) {
  const missing = 'no-such-model-anywhere';
  if (flavour === 'anthropic') return (await import('@ai-sdk/anthropic')).createAnthropic({ apiKey, baseURL: `${baseUrl}/v1` })(missing);
  if (flavour === 'openai-compatible')
    return (await import('@ai-sdk/openai-compatible')).createOpenAICompatible({ name: 'gapura', apiKey, baseURL: `${baseUrl}/v1` })(missing);
  const openai = (await import('@ai-sdk/openai')).createOpenAI({ apiKey, baseURL: `${baseUrl}/v1` });
  return flavour === 'openai-chat' ? openai.chat(missing) : openai.responses(missing);
}

// ------------------------------------------------------------------------------------------------------- LangChain JS

async function langChain(flavour) {
  const { z } = await import('zod');
  const { HumanMessage, ToolMessage } = await import('@langchain/core/messages');
  const { tool } = await import('@langchain/core/tools');
  const make = async (name, options = {}) => flavour === 'openai'
    ? new (await import('@langchain/openai')).ChatOpenAI({ model: name, apiKey, configuration: { baseURL: `${baseUrl}/v1` }, maxRetries: 0, ...options })
    : new (await import('@langchain/anthropic')).ChatAnthropic({ model: name, apiKey, anthropicApiUrl: baseUrl, maxRetries: 0, ...options });
  const chat = await make(model);
  const getWeather = tool(async (input) => weather(input), { name: 'get_weather', description: 'Weather for a city', schema: z.object({ city: z.string() }) });
  const textOf = (message) => typeof message.content === 'string' ? message.content
    : message.content.filter((p) => p.type === 'text').map((p) => p.text).join('');

  async function toolLoop(s, prompt) {
    const withTools = chat.bindTools([getWeather]);
    const messages = [new HumanMessage(prompt)];
    for (let step = 0; step < 4; step++) {
      const answer = await withTools.invoke(messages);
      messages.push(answer);
      if (!answer.tool_calls?.length) return { text: textOf(answer), steps: step + 1 };
      for (const call of answer.tool_calls) messages.push(new ToolMessage({ tool_call_id: call.id, content: weather(call.args) }));
    }
    throw new Error('the tool loop did not end');
  }

  return {
    text: async (s) => {
      const answer = await chat.invoke(`Say hello ${marker(s)}`);
      return { text: textOf(answer), usage: answer.usage_metadata ?? null };
    },
    stream: async (s) => {
      let text = '';
      let chunks = 0;
      for await (const chunk of await chat.stream(`Stream please ${marker(s)}`)) { const t = textOf(chunk); if (t) { text += t; chunks++; } }
      return { text, chunks };
    },
    tools: (s) => toolLoop(s, `Weather? ${marker(s)} [[tool:get_weather {"city":"Jakarta"}]]`),
    parallel_tools: (s) => toolLoop(s, `Two cities ${marker(s)} [[tool:get_weather {"city":"Oslo"}]] [[tool:get_weather {"city":"Lima"}]]`),
    structured: async (s) => ({
      object: await chat.withStructuredOutput(z.object({ city: z.string(), celsius: z.number() }), { name: 'weather_report' }).invoke(`Weather report ${marker(s)}`),
    }),
    image: async (s) => ({ text: textOf(await chat.invoke([new HumanMessage({ content: [
      { type: 'text', text: `What is this? ${marker(s)}` },
      { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
    ] })])) }),
    thinking: async (s) => {
      const thinker = await make(model, flavour === 'openai'
        // LangChain sends an effort only to models it knows reason; modelKwargs is how a user sends it to any other.
        ? { modelKwargs: { reasoning_effort: 'medium' }, maxTokens: 4000 }
        : { thinking: { type: 'enabled', budget_tokens: 2000 }, maxTokens: 4000 });
      const answer = await thinker.invoke(`Think first ${marker(s)}`);
      const reasoning = Array.isArray(answer.content)
        ? answer.content.filter((p) => p.type === 'thinking').map((p) => p.thinking).join('')
        : answer.additional_kwargs?.reasoning_content ?? answer.additional_kwargs?.reasoning?.summary?.map((p) => p.text).join('') ?? '';
      return { text: textOf(answer), reasoning };
    },
    error: async (s) => {
      try {
        await (await make('no-such-model-anywhere')).invoke(`hi ${marker(s)}`);
        return { error: null };
      } catch (e) {
        return { status: e.status ?? e.lc_error_code ?? null, message: e.message };
      }
    },
    keepalive: async (s) => {
      let text = '';
      for await (const chunk of await chat.stream(`Take your time ${marker(s)} [[slow:2500]]`)) text += textOf(chunk);
      return { text };
    },
  };
}

// ------------------------------------------------------------------------------------------------------------ runner

if (!clients[client]) {
  console.error(`unknown client '${client}' (expected one of: ${Object.keys(clients).join(', ')})`);
  process.exit(2);
}
const scenarios = await clients[client]();
const names = only.length ? only : Object.keys(scenarios);
async function runScenario(name) {
  const started = Date.now();
  try {
    const got = await scenarios[name](name);
    console.log(JSON.stringify({ scenario: name, ok: true, got, ms: Date.now() - started }));
  } catch (e) {
    console.log(JSON.stringify({ scenario: name, ok: false, error: `${e.name}: ${e.message}`, status: e.status ?? e.statusCode ?? null, ms: Date.now() - started }));
  }
}
const lanes = cliClients.has(client) ? 3 : 1;
await Promise.all(Array.from({ length: lanes }, async () => { while (names.length) await runScenario(names.shift()); }));
