// The coding-agent CLIs of the client matrix — Claude Code, Codex CLI and opencode, as installed by tests/e2e/package.json —
// each run once per scenario in print mode against the gateway, with a throw-away home and working directory and a clean
// environment (nothing of the machine's own Anthropic/OpenAI/opencode set-up leaks in). Each scenario returns what the
// user saw, in the shape clients.mjs reports for the libraries: {text, chunks, reasoning, object, status, message}.
//
// The tools are the CLIs' own: the simulated model is asked for them by directive ("[[tool:Bash {…}]]"), the CLI really
// runs the command, and the command's output ("Jakarta: 31 degrees") is what the tool result must carry upstream.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const e2e = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(e2e, 'node_modules', '.bin', name);
// One run's limit: generous, because a loaded 2-core machine can make one opencode run take a minute.
const TIMEOUT_MS = 240_000;

/** The schema the structured scenario asks for, as the libraries do. */
const WEATHER_SCHEMA = {
  type: 'object',
  properties: { city: { type: 'string' }, celsius: { type: 'number' } },
  required: ['city', 'celsius'],
  additionalProperties: false,
};

/** A home directory for several runs of one CLI, removed when the driver exits. */
function sharedHome() {
  const home = mkdtempSync(join(tmpdir(), 'gapura-matrix-home-'));
  process.on('exit', () => rmSync(home, { recursive: true, force: true }));
  return home;
}

/**
 * Runs a CLI to its end (bounded) in a fresh working directory, and a fresh home unless one is given; what is fresh is
 * removed afterwards.
 */
async function run(exe, args, { env = {}, clear = [], stdin = '', files = {}, home: given } = {}) {
  const home = given ?? mkdtempSync(join(tmpdir(), 'gapura-matrix-home-'));
  const work = mkdtempSync(join(tmpdir(), 'gapura-matrix-work-'));
  try {
    for (const [name, content] of Object.entries(files)) writeFileSync(join(work, name), content);
    const environment = { ...process.env };
    for (const key of Object.keys(environment)) if (clear.some((prefix) => key.startsWith(prefix))) delete environment[key];
    const resolved = typeof env === 'function' ? env(home, work) : env;
    const child = spawn(exe, typeof args === 'function' ? args(home, work) : args,
      { cwd: work, env: { ...environment, HOME: home, NO_COLOR: '1', ...resolved }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.stdin.end(stdin);
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    const code = await new Promise((resolve) => child.on('close', (c, signal) => resolve(signal ? `killed (${signal})` : c)));
    clearTimeout(timer);
    return { code, stdout, stderr, home, work };
  } finally {
    if (!given) rmSync(home, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
}

/** JSON lines of a CLI's machine-readable output (other lines, such as warnings, are skipped). */
const jsonLines = (text) => text.split('\n').filter((l) => l.startsWith('{')).flatMap((l) => { try { return [JSON.parse(l)]; } catch { return []; } });

/** The error a CLI showed for a refused request: its exit code, its status when it names one, and the message. */
function refusal(result) {
  if (typeof result.code !== 'number') throw failed('the CLI', result); // killed at the time limit
  const output = `${result.stdout}\n${result.stderr}`;
  const status = output.match(/\b(?:API Error: |status |"status":\s*)(4\d\d)\b/)?.[1];
  return { exit: result.code, status: status ? Number(status) : null, message: output.slice(0, 4000) };
}

const failed = (name, result) => new Error(`${name} exited ${result.code}: ${(result.stderr || result.stdout).slice(-1500)}`);

// ------------------------------------------------------------------------------------------------------- Claude Code

export function claudeCode({ baseUrl, apiKey, model, marker, png }) {
  const claude = (prompt, args = [], { stdin = '', env = {} } = {}) => run(bin('claude'), ['-p', ...(prompt ? [prompt] : []), '--model', model, ...args], {
    clear: ['ANTHROPIC_', 'CLAUDE'], stdin,
    env: { ANTHROPIC_BASE_URL: baseUrl, ANTHROPIC_API_KEY: apiKey, DISABLE_AUTOUPDATER: '1', CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', ...env },
  });
  // stream-json: every event the CLI saw, the final result last.
  const events = async (prompt, args = [], options = {}) => {
    const result = await claude(prompt, ['--output-format', 'stream-json', '--verbose', ...args], options);
    const lines = jsonLines(result.stdout);
    const final = lines.findLast((e) => e.type === 'result');
    if (result.code !== 0 || !final || final.is_error) throw failed('claude', result);
    return { lines, final };
  };
  const plain = async (prompt, args = []) => ({ text: (await events(prompt, ['--allowedTools', 'Bash', ...args])).final.result });

  return {
    text: (s) => plain(`Say hello ${marker(s)}`),
    stream: async (s) => {
      const { lines, final } = await events(`Stream please ${marker(s)}`, ['--include-partial-messages']);
      const deltas = lines.filter((e) => e.type === 'stream_event' && e.event?.delta?.type === 'text_delta');
      return { text: final.result, chunks: deltas.length, streamed: deltas.map((e) => e.event.delta.text).join('') };
    },
    tools: (s) => plain(`Weather? ${marker(s)} [[tool:Bash {"command":"echo Jakarta: 31 degrees","description":"weather"}]]`),
    parallel_tools: (s) => plain(`Two cities ${marker(s)} [[tool:Bash {"command":"echo Oslo: 31 degrees","description":"Oslo"}]] `
      + '[[tool:Bash {"command":"echo Lima: 31 degrees","description":"Lima"}]]'),
    // --json-schema: Claude Code declares its own StructuredOutput tool and tells the model to call it.
    structured: async (s) => ({ object: (await events(`Weather report ${marker(s)}`, ['--json-schema', JSON.stringify(WEATHER_SCHEMA)])).final.structured_output }),
    // An image is a content block of a stream-json user message on standard input.
    image: async (s) => {
      const message = { type: 'user', message: { role: 'user', content: [
        { type: 'text', text: `What is this? ${marker(s)}` },
        { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
      ] } };
      return { text: (await events('', ['--input-format', 'stream-json'], { stdin: JSON.stringify(message) + '\n' })).final.result };
    },
    thinking: async (s) => {
      const { lines, final } = await events(`Think first ${marker(s)}`, [], { env: { MAX_THINKING_TOKENS: '2000' } });
      const blocks = lines.filter((e) => e.type === 'assistant').flatMap((e) => e.message.content);
      return { text: final.result, reasoning: blocks.filter((b) => b.type === 'thinking').map((b) => b.thinking).join('') };
    },
    error: async (s) => {
      const result = await claude(`hi ${marker(s)}`, ['--model', 'no-such-model-anywhere']);
      return refusal(result);
    },
    keepalive: (s) => plain(`Take your time ${marker(s)} [[slow:2500]]`),
  };
}

// ---------------------------------------------------------------------------------------------------------- Codex CLI

export function codexCli({ baseUrl, apiKey, model, marker, png }) {
  // Codex reads its provider from CODEX_HOME/config.toml (it ignores OPENAI_BASE_URL); no retries, so an error shows at once.
  const config = (m) => [
    `model = ${JSON.stringify(m)}`, 'model_provider = "gapura"', '', '[model_providers.gapura]', 'name = "Gapura"',
    `base_url = ${JSON.stringify(`${baseUrl}/v1`)}`, 'env_key = "OPENAI_API_KEY"', 'wire_api = "responses"',
    'request_max_retries = 0', 'stream_max_retries = 0', ''].join('\n');
  const codex = (prompt, args = [], { files = {}, m = model } = {}) => run(bin('codex'),
    // Non-interactive, no approval prompts: the only commands run are the echoes the simulated model asks for, in a
    // throw-away directory (the container may not offer the kernel sandbox Codex wants).
    (home, work) => { writeFileSync(join(home, 'config.toml'), config(m)); return ['exec', '--skip-git-repo-check', '--dangerously-bypass-approvals-and-sandbox', '--json', prompt,
      ...args.map((a) => a.replace('{work}', work))]; },
    { clear: ['OPENAI_', 'CODEX_'], files, env: (home) => ({ CODEX_HOME: home, OPENAI_API_KEY: apiKey, RUST_LOG: 'error' }) });
  const items = async (prompt, args = [], options = {}) => {
    const result = await codex(prompt, args, options);
    const events = jsonLines(result.stdout);
    if (result.code !== 0 || !events.some((e) => e.type === 'turn.completed')) throw failed('codex', result);
    return events.filter((e) => e.type === 'item.completed').map((e) => e.item);
  };
  const answer = (list) => list.filter((i) => i.type === 'agent_message').map((i) => i.text).join('\n');
  const plain = async (prompt, args = [], options = {}) => ({ text: answer(await items(prompt, args, options)) });

  return {
    text: (s) => plain(`Say hello ${marker(s)}`),
    // Codex always streams (Responses SSE) and prints whole items: that the answer was streamed is read from the ledger.
    stream: (s) => plain(`Stream please ${marker(s)}`),
    // Codex 0.169's shell is the function tool "exec_command" taking {"cmd": "<command line>"}.
    tools: (s) => plain(`Weather? ${marker(s)} [[tool:exec_command {"cmd":"echo Jakarta: 31 degrees"}]]`),
    parallel_tools: (s) => plain(`Two cities ${marker(s)} [[tool:exec_command {"cmd":"echo Oslo: 31 degrees"}]] [[tool:exec_command {"cmd":"echo Lima: 31 degrees"}]]`),
    // --output-schema: the Responses request carries text.format json_schema, and the last message is the JSON.
    structured: async (s) => ({ object: JSON.parse(answer(await items(`Weather report ${marker(s)}`, ['--output-schema', '{work}/schema.json'],
      { files: { 'schema.json': JSON.stringify(WEATHER_SCHEMA) } }))) }),
    image: (s) => plain(`What is this? ${marker(s)}`, ['-i', '{work}/image.png'], { files: { 'image.png': Buffer.from(png, 'base64') } }),
    thinking: async (s) => {
      const list = await items(`Think first ${marker(s)}`, ['-c', 'model_reasoning_effort="high"', '-c', 'model_reasoning_summary="auto"', '-c', 'model_supports_reasoning_summaries=true']);
      return { text: answer(list), reasoning: list.filter((i) => i.type === 'reasoning').map((i) => i.text).join('') };
    },
    error: async (s) => refusal(await codex(`hi ${marker(s)}`, [], { m: 'no-such-model-anywhere' })),
    keepalive: (s) => plain(`Take your time ${marker(s)} [[slow:2500]]`),
  };
}

// ----------------------------------------------------------------------------------------------------------- opencode

export function openCode({ baseUrl, apiKey, model, marker, png }) {
  // opencode's own Anthropic provider (the AI SDK's) pointed at the gateway; the models are declared, so it sends them.
  const declared = {
    name: model, attachment: true, reasoning: true, tool_call: true,
    modalities: { input: ['text', 'image'], output: ['text'] }, limit: { context: 200000, output: 32000 },
  };
  const config = JSON.stringify({
    // No session titles: a title is a second request (to the small model) that each case would make, the refused one too.
    $schema: 'https://opencode.ai/config.json', autoupdate: false, share: 'disabled', snapshot: false, agent: { title: { disable: true } },
    permission: { edit: 'allow', bash: 'allow', webfetch: 'deny' },
    provider: { anthropic: { options: { baseURL: `${baseUrl}/v1`, apiKey }, models: { [model]: declared, 'no-such-model-anywhere': declared } } },
  });
  // One home for all of this driver's runs: a fresh one costs opencode about 5 s of CPU to set up (its database, caches).
  const home = sharedHome();
  // opencode joins its message words, and one argument holding spaces arrives quoted, which would hide a directive.
  const words = (prompt) => prompt.split(' ').filter(Boolean);
  // The first run creates opencode's database in that home; runs started meanwhile would race it, so they wait for it.
  let first = null;
  const opencode = async (...call) => {
    if (first) await first.catch(() => {});
    else return (first = runOpenCode(...call));
    return runOpenCode(...call);
  };
  const runOpenCode = (prompt, args = [], m = model, files = {}) => run(bin('opencode'), (home, work) => ['run', '-m', `anthropic/${m}`, '--format', 'json',
    ...args, ...words(prompt), ...(files['image.png'] ? ['-f', join(work, 'image.png')] : [])], {
    clear: ['ANTHROPIC_', 'OPENAI_', 'OPENCODE'], files, home,
    env: () => ({
      XDG_CONFIG_HOME: join(home, '.config'), XDG_DATA_HOME: join(home, '.local/share'), XDG_CACHE_HOME: join(home, '.cache'),
      XDG_STATE_HOME: join(home, '.local/state'), OPENCODE_CONFIG_CONTENT: config, OPENCODE_DISABLE_AUTOUPDATE: '1',
      // Its default plugins are not what is tested, and loading them costs a third of each run's CPU.
      OPENCODE_DISABLE_MODELS_FETCH: '1', OPENCODE_DISABLE_LSP_DOWNLOAD: '1', OPENCODE_DISABLE_DEFAULT_PLUGINS: '1',
    }),
  });
  const parts = async (prompt, args = [], files = {}) => {
    const result = await opencode(prompt, args, model, files);
    const events = jsonLines(result.stdout);
    const error = events.find((e) => e.type === 'error');
    if (result.code !== 0 || error || !events.some((e) => e.type === 'step_finish')) throw failed('opencode', { ...result, stderr: result.stderr + (error ? JSON.stringify(error) : '') });
    return events;
  };
  const text = (events) => events.filter((e) => e.type === 'text').map((e) => e.part.text).join('\n');
  const plain = async (prompt, args = [], files = {}) => ({ text: text(await parts(prompt, args, files)) });

  return {
    text: (s) => plain(`Say hello ${marker(s)}`),
    // opencode always streams and prints whole parts: that the answer was streamed is read from the ledger.
    stream: (s) => plain(`Stream please ${marker(s)}`),
    tools: (s) => plain(`Weather? ${marker(s)} [[tool:bash {"command":"echo Jakarta: 31 degrees","description":"weather"}]]`),
    parallel_tools: (s) => plain(`Two cities ${marker(s)} [[tool:bash {"command":"echo Oslo: 31 degrees","description":"Oslo"}]] `
      + '[[tool:bash {"command":"echo Lima: 31 degrees","description":"Lima"}]]'),
    image: (s) => plain(`What is this? ${marker(s)}`, [], { 'image.png': Buffer.from(png, 'base64') }),
    thinking: async (s) => {
      const events = await parts(`Think first ${marker(s)}`, ['--variant', 'high', '--thinking']);
      return { text: text(events), reasoning: events.filter((e) => e.type === 'reasoning').map((e) => e.part.text).join('') };
    },
    error: async (s) => {
      const result = await opencode(`hi ${marker(s)}`, [], 'no-such-model-anywhere');
      const shown = jsonLines(result.stdout).find((e) => e.type === 'error');
      return { ...refusal(result), status: shown?.error?.data?.statusCode ?? refusal(result).status, message: JSON.stringify(shown ?? result.stderr) };
    },
    keepalive: (s) => plain(`Take your time ${marker(s)} [[slow:2500]]`),
  };
}

/** Scenarios a CLI does not offer (the matrix leaves the pair out and docs/clients.md says why). */
export const notOffered = { opencode: { structured: '`opencode run` has no structured-output option' } };
