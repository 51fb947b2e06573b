// Vercel's AI SDK against poolgate, through each of its providers: OpenAI (Responses API, its default,
// and chat completions), Anthropic and Google. Run by tests/integration/test_ai_sdk.py, which starts the
// gateway and the simulator and reads the JSON printed here: {"<provider>": {"<case>": result}}.
// GATEWAY is the gateway's base URL, SIM the simulator's, SIM_KEY the account key to script.
import { generateText, Output, stepCountIs, streamText, tool } from 'ai';
import { createAnthropic } from '@ai-sdk/anthropic';
import { createGoogleGenerativeAI } from '@ai-sdk/google';
import { createOpenAI } from '@ai-sdk/openai';
import { z } from 'zod';

const { GATEWAY, SIM, SIM_KEY } = process.env;
globalThis.AI_SDK_LOG_WARNINGS = false; // they go to stdout, which carries the results
const MODEL = 'gemini-3-pro-preview'; // the simulator refuses replayed calls without their signatures

const openai = createOpenAI({ baseURL: `${GATEWAY}/v1`, apiKey: 'sk-test' });
const anthropic = createAnthropic({ baseURL: `${GATEWAY}/v1`, apiKey: 'sk-test' });
const google = createGoogleGenerativeAI({ baseURL: `${GATEWAY}/v1beta`, apiKey: 'sk-test' });
const providers = {
  responses: openai(MODEL),
  chat: openai.chat(MODEL),
  anthropic: anthropic(MODEL),
  google: google(MODEL),
};

async function script(...steps) {
  const r = await fetch(`${SIM}/_sim/script`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ key: SIM_KEY, steps }),
  });
  if (!r.ok) throw new Error(`scripting the simulator: ${r.status}`);
}

const weather = tool({
  description: 'The weather in a city',
  inputSchema: z.object({ city: z.string() }),
  execute: async ({ city }) => ({ city, forecast: `sunny-in-${city}` }),
});

const cases = {
  async text(model) {
    const r = await generateText({ model, prompt: 'hello there' });
    return { text: r.text, finish: r.finishReason, output_tokens: r.usage.outputTokens };
  },
  async stream(model) {
    await script({ text: 'one two three four', chunks: 4 });
    const s = streamText({ model, prompt: 'stream please' });
    const pieces = [];
    for await (const piece of s.textStream) pieces.push(piece);
    return { pieces: pieces.length, text: pieces.join(''), finish: await s.finishReason };
  },
  async tools(model) {
    await script({ function_calls: [{ name: 'weather', args: { city: 'Oslo' } }] }, { text: 'Oslo is sunny.' });
    const r = await generateText({ model, prompt: 'weather in Oslo?', tools: { weather }, stopWhen: stepCountIs(3) });
    return { steps: r.steps.map((s) => s.finishReason), calls: r.steps[0].toolCalls.map((c) => [c.toolName, c.input]), text: r.text };
  },
  async stream_tools(model) {
    await script(
      { function_calls: [{ name: 'weather', args: { city: 'Rome' } }], chunks: 2 },
      { text: 'Rome is sunny.', chunks: 3 },
    );
    const s = streamText({ model, prompt: 'weather in Rome?', tools: { weather }, stopWhen: stepCountIs(3) });
    const errors = [];
    const results = [];
    for await (const part of s.fullStream) {
      if (part.type === 'error') errors.push(String(part.error));
      if (part.type === 'tool-result') results.push(part.output);
    }
    return { text: await s.text, results, errors, steps: (await s.steps).length };
  },
  async object(model) {
    await script({ text: '{"name":"Ada","age":36}' });
    const schema = z.object({ name: z.string(), age: z.number() });
    const r = await generateText({ model, prompt: 'a person', output: Output.object({ schema }) });
    return r.output;
  },
};

const out = {};
for (const [name, model] of Object.entries(providers)) {
  out[name] = {};
  for (const [label, run] of Object.entries(cases)) {
    try {
      out[name][label] = await run(model);
    } catch (err) {
      out[name][label] = { failed: `${err?.constructor?.name}: ${err?.message}`, body: err?.responseBody ?? null };
    }
  }
}

// Anthropic's extended thinking, streamed, then sent back on the next turn as the SDK keeps it.
try {
  await script({ thoughts: 'Weighing it up.', text: 'Forty-two.', chunks: 3 }, { text: 'Still forty-two.' });
  const thinking = { anthropic: { thinking: { type: 'enabled', budgetTokens: 2048 } } };
  const model = providers.anthropic;
  const first = streamText({ model, prompt: 'the answer?', providerOptions: thinking });
  let reasoning = '';
  for await (const part of first.fullStream) if (part.type === 'reasoning-delta') reasoning += part.text;
  const signature = (await first.reasoning)[0]?.providerMetadata?.anthropic?.signature ?? null;
  const messages = [{ role: 'user', content: 'the answer?' }, ...(await first.response).messages, { role: 'user', content: 'sure?' }];
  const second = await generateText({ model, messages, providerOptions: thinking });
  out.anthropic.thinking = { reasoning, text: await first.text, signature: Boolean(signature), second: second.text };
} catch (err) {
  out.anthropic.thinking = { failed: `${err?.constructor?.name}: ${err?.message}` };
}

console.log(JSON.stringify(out));
