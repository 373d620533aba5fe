// client.mjs: an MCP client built on the official TypeScript SDK that
// drives countersign-mcp in tests/integration/t_mcp.sh. It spawns the
// command after "--" (the gateway, which spawns the real server) and prints
// one JSON line per step on stdout; the shell test reads them, decides the
// escalated calls with countersignctl and checks the outcome.
//
//   node client.mjs main DIR -- bin/countersign-mcp ... -- node server.js DIR
//   node client.mjs read DIR -- ...
// SPDX-License-Identifier: MIT
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [scenario, dir, sep, command, ...args] = process.argv.slice(2);
if (sep !== "--" || !command || !dir) {
  console.error("usage: node client.mjs main|read DIR -- COMMAND [ARGS...]");
  process.exit(64);
}

const out = (step, fields = {}) =>
  process.stdout.write(JSON.stringify({ step, ...fields }) + "\n");

// The first text block of a tool result, and whether it is an error.
const summary = (result) => ({
  isError: result.isError === true,
  text: (result.content ?? []).filter((c) => c.type === "text")
    .map((c) => c.text).join("\n"),
});

const transport = new StdioClientTransport({ command, args, stderr: "inherit" });
const client = new Client({ name: "countersign-test-client", version: "1.0.0" });
await client.connect(transport);
out("connected", { server: client.getServerVersion()?.name });

const tools = await client.listTools();
out("tools", { names: tools.tools.map((t) => t.name).sort() });

const read = await client.callTool({ name: "read_file", arguments: { path: `${dir}/hello.txt` } });
out("read", summary(read));

if (scenario === "main") {
  const write = await client.callTool({
    name: "write_file",
    arguments: { path: `${dir}/blocked.txt`, content: "must not be written\n" },
  });
  out("write", summary(write));

  // Large messages both ways: a 4 MiB argument (the gateway summarizes it
  // for countersign and forwards the call unchanged) and a 3 MiB file (the
  // reply carries it twice: text and structuredContent).
  const big = await client.callTool({
    name: "read_file",
    arguments: { path: `${dir}/big.txt`, padding: "p".repeat(4 << 20) },
  });
  const bigText = summary(big);
  out("big", { isError: bigText.isError, length: bigText.text.length });

  // An escalated call the client gives up on: the SDK cancels it after
  // 1.5 s; the operator's later approval must not run it.
  try {
    await client.callTool({ name: "create_directory", arguments: { path: `${dir}/cancelled` } },
      undefined, { timeout: 1500 });
    out("cancelled", { timedOut: false });
  } catch (err) {
    out("cancelled", { timedOut: true, error: String(err.message ?? err) });
  }

  // An escalated call waits for an operator; meanwhile other messages flow.
  let editDone = false;
  const progress = [];
  const edit = client.callTool({
    name: "edit_file",
    arguments: { path: `${dir}/hello.txt`, edits: [{ oldText: "hello", newText: "goodbye" }] },
  }, undefined, {
    timeout: 90000,
    resetTimeoutOnProgress: true,
    onprogress: (p) => progress.push(p.message ?? ""),
  }).then((r) => { editDone = true; return r; });
  out("edit-sent");
  await client.ping();
  const list = await client.callTool({ name: "list_directory", arguments: { path: dir } });
  out("during", { pinged: true, list: summary(list), editDone });
  out("edit", { ...summary(await edit), progress });

  // An escalated call the operator denies.
  const move = client.callTool({
    name: "move_file",
    arguments: { source: `${dir}/hello.txt`, destination: `${dir}/moved.txt` },
  }, undefined, { timeout: 90000 });
  out("move-sent");
  out("move", summary(await move));

  out("reread", summary(await client.callTool({
    name: "read_file", arguments: { path: `${dir}/hello.txt` },
  })));
}

await client.close();
out("closed");
