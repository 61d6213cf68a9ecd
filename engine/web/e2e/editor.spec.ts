import { expect, test } from "@playwright/test";
import { startTrellis, type Trellis } from "./server";
import { choosePassword, connect, signIn, withKey } from "./session";

let trellis: Trellis;

test.beforeAll(async ({ request }) => {
  trellis = await startTrellis();
  await choosePassword(request, trellis, trellis.owner.email, trellis.owner.password);
});

test.afterAll(() => trellis?.stop());

test("three nodes dragged from the palette, connected and configured are saved, run, and every node succeeds", async ({ page, request }, info) => {
  await signIn(page, trellis);
  await page.getByLabel("New workflow id").fill("greetings");
  await page.getByRole("button", { name: "Create" }).click();
  await expect(page.getByRole("heading", { name: /greetings/ })).toBeVisible();

  // The palette is grouped and searchable, built-ins included.
  await page.getByLabel("Search nodes").fill("approval");
  await expect(page.getByTestId("palette-builtin:approval")).toBeVisible();
  await expect(page.getByTestId("palette-trellis/transform/render")).toBeHidden();
  await page.getByLabel("Search nodes").fill("render");

  const canvas = page.getByTestId("canvas");
  const drops = [
    { x: 60, y: 60 },
    { x: 260, y: 240 },
    { x: 460, y: 420 },
  ];
  for (const [i, at] of drops.entries()) {
    await page.getByTestId("palette-trellis/transform/render").dragTo(canvas, { targetPosition: at });
    const id = i === 0 ? "render" : `render-${i + 1}`;
    await expect(page.getByTestId(`node-${id}`)).toBeVisible();
    // The new node is selected: its config form is generated from the kind's schema.
    const template = page.getByRole("textbox", { name: "template", exact: true });
    await template.fill(i === 0 ? "hello {{ input.name }}" : `step ${i + 1}`);
  }
  await connect(page, "render", "out", "render-2");
  await connect(page, "render-2", "out", "render-3");
  await expect(page.locator(".react-flow__edge")).toHaveCount(2);

  // A field switched to an expression suggests the input and the node's ancestors.
  await page.getByTestId("node-render-3").click();
  await page.getByRole("button", { name: "fuel: use an expression" }).click();
  const options = await page.locator("datalist option").evaluateAll((all) => all.map((o) => (o as HTMLOptionElement).value));
  expect(options).toEqual(expect.arrayContaining(["input", "nodes.render.output", "nodes.render-2.output", "nodes.render-2.status"]));
  expect(options).not.toContain("nodes.render-3.output");
  await page.getByRole("button", { name: "fuel: use an expression" }).click();

  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("status")).toHaveText("Saved version 2");
  await page.screenshot({ path: info.outputPath("saved.png") });

  const saved = await (await request.get(`${trellis.url}/v1/workflows/greetings`, { headers: withKey(trellis) })).json();
  expect(saved.document.nodes.map((n: { id: string; config: unknown }) => [n.id, n.config])).toEqual([
    ["render", { template: "hello {{ input.name }}" }],
    ["render-2", { template: "step 2" }],
    ["render-3", { template: "step 3" }],
  ]);
  expect(saved.document.edges).toEqual([
    { from: "render", port: "out", to: "render-2" },
    { from: "render-2", port: "out", to: "render-3" },
  ]);

  // Run it from the editor's run panel: the run view follows it live.
  await page.getByTestId("canvas").click({ position: { x: 10, y: 10 } });
  await page.getByRole("tab", { name: "Run" }).click();
  await page.getByLabel("Input (JSON)").fill('{"name": "Ada"}');
  await page.getByRole("button", { name: "Start run" }).click();
  await expect(page.getByTestId("run-status")).toHaveText("succeeded");
  for (const id of ["render", "render-2", "render-3"]) await expect(page.getByTestId(`node-${id}`)).toHaveAttribute("data-status", "succeeded");

  // A node's record: its output per port.
  await page.getByTestId("node-render").click();
  await expect(page.getByLabel("Output on out")).toContainText("hello Ada");
  await page.screenshot({ path: info.outputPath("run.png") });
});

test("an invalid config shows its problem at the field, on the node and when saving", async ({ page }, info) => {
  await signIn(page, trellis);
  await page.getByRole("link", { name: "greetings" }).click();
  await page.getByLabel("Search nodes").fill("reshape");
  await page.getByTestId("palette-trellis/transform/reshape").click();
  await expect(page.getByTestId("node-reshape")).toBeVisible();

  // The server's validation names `$.nodes[3].config` (the missing
  // template): the page shows it at the template field and on the node.
  await expect(page.locator('[id$="_template__error"]')).toHaveText('"template" is a required property');
  // `template` takes any JSON: its field is a JSON text box.
  await expect(page.getByRole("textbox", { name: "template", exact: true })).toHaveClass("json-input");
  await expect(page.getByTestId("node-reshape")).toContainText("1 problem");

  // The fuel field takes a number; as an expression it may hold any text.
  await page.getByRole("button", { name: "fuel: use an expression" }).click();
  await page.getByLabel("fuel expression").fill("input.budget");

  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("status")).toHaveText("the workflow is invalid");
  await page.screenshot({ path: info.outputPath("invalid.png") });
});

test("by keyboard alone: a kind added with Enter, a node selected with Enter, an edge made through Connect to…", async ({ page }, info) => {
  await signIn(page, trellis);
  await page.getByRole("link", { name: "greetings" }).focus();
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("node-render-3")).toBeVisible();

  await page.getByLabel("Search nodes").focus();
  await page.keyboard.type("approval");
  await page.keyboard.press("Tab");
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("node-approval")).toBeVisible();

  // Select render-3 on the canvas and connect it to the approval by menu.
  await page.locator('.react-flow__node[data-id="render-3"]').focus();
  await page.keyboard.press("Enter");
  await expect(page.getByRole("complementary", { name: "Node render-3" })).toBeVisible();
  await page.getByLabel("Connect to…").selectOption("approval");
  await page.getByRole("button", { name: "Connect", exact: true }).focus();
  await page.keyboard.press("Enter");
  await expect(page.locator(".react-flow__edge")).toHaveCount(3);
  await expect(page.getByRole("complementary", { name: "Node render-3" })).toContainText("out → approval");

  await page.getByRole("button", { name: "Save" }).focus();
  await page.keyboard.press("Enter");
  await expect(page.getByRole("status")).toHaveText("Saved version 3");
  await page.screenshot({ path: info.outputPath("keyboard.png") });
});

test("the triggers panel saves a webhook and a schedule, then shows the hook URL and the next fire; the version list opens an older version", async ({ page }, info) => {
  await signIn(page, trellis);
  await page.getByRole("link", { name: "greetings" }).click();
  await page.getByRole("tab", { name: "Triggers" }).click();
  await page.getByLabel("Start a run on a POST to the workflow's hook URL").check();
  await page.getByLabel("Signature scheme").selectOption("github");
  await page.getByRole("button", { name: "Add a schedule" }).click();
  await page.getByLabel("Schedule 1").fill("0 30 4 * * *");
  // GitHub's scheme needs a signing secret: the server says so, above the canvas.
  await expect(page.getByRole("list", { name: "Problems" })).toContainText("$.triggers[0].webhook.secret");
  await page.getByLabel("Signature scheme").selectOption("trellis");
  await expect(page.getByRole("list", { name: "Problems" })).toHaveCount(0);
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("status")).toHaveText("Saved version 4");
  await page.getByRole("tab", { name: "Triggers" }).click();
  await expect(page.getByLabel("Webhook URL")).toHaveValue(new RegExp(`^${trellis.url}/hooks/whk_`));
  await expect(page.getByRole("list", { name: "Next fires" })).toContainText("0 30 4 * * *");
  await page.screenshot({ path: info.outputPath("triggers.png") });

  await page.getByRole("tab", { name: "Versions" }).click();
  await page.getByRole("link", { name: "version 1" }).click();
  await expect(page.getByText("older version: saving makes it the latest")).toBeVisible();
  await expect(page.locator(".react-flow__node")).toHaveCount(0);
  await page.getByRole("tab", { name: "Versions" }).click();
  await page.getByRole("link", { name: "version 4" }).click();
  await expect(page.getByTestId("node-approval")).toBeVisible();
});
