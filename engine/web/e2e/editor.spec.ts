import { expect, test, type Page } from "@playwright/test";
import { startTrellis, type Trellis } from "./server";

const PASSWORD = "a passphrase of my own";
let trellis: Trellis;

test.beforeAll(async ({ request }) => {
  trellis = await startTrellis();
  // The owner's one-time password is swapped for their own through the API.
  const login = await request.post(`${trellis.url}/v1/auth/login`, {
    data: { email: trellis.owner.email, password: trellis.owner.password },
  });
  const { access_token } = await login.json();
  await request.post(`${trellis.url}/v1/me/password`, {
    headers: { authorization: `Bearer ${access_token}` },
    data: { current_password: trellis.owner.password, new_password: PASSWORD },
  });
  const saved = await request.post(`${trellis.url}/v1/workflows`, {
    headers: { authorization: `Bearer ${trellis.apiKey}` },
    data: {
      id: "greet",
      nodes: [{ id: "hello", uses: "trellis/transform@^0.1", kind: "render", config: { template: "hello" } }],
      ui: { positions: { hello: { x: 40, y: 120 } } },
    },
  });
  expect(saved.status()).toBe(201);
});

test.afterAll(() => trellis?.stop());

async function signIn(page: Page) {
  await page.goto(trellis.url + "/");
  await page.getByLabel("Email").fill(trellis.owner.email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
}

test("a node added from the palette and connected by dragging is saved as a new version", async ({ page, request }, info) => {
  await signIn(page);
  await page.getByRole("button", { name: "greet" }).click();
  await expect(page.getByTestId("node-hello")).toBeVisible();

  // The palette is grouped and searchable, built-ins included.
  await page.getByLabel("Search nodes").fill("reshape");
  await expect(page.getByTestId("palette-trellis/transform/reshape")).toBeVisible();
  await expect(page.getByTestId("palette-builtin:approval")).toBeHidden();
  await page.getByTestId("palette-trellis/transform/reshape").click();
  await expect(page.getByTestId("node-reshape")).toBeVisible();

  // A reshape without its template is refused at save, with the problem's path.
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("status")).toHaveText("the workflow is invalid");
  await expect(page.getByRole("list", { name: "Problems" })).toContainText("$.nodes[1].config");
  await page.screenshot({ path: info.outputPath("refused.png") });
  await page.getByTestId("node-reshape").click();
  await page.keyboard.press("Delete");
  await expect(page.getByTestId("node-reshape")).toHaveCount(0);

  await page.getByLabel("Search nodes").fill("approval");
  await page.getByTestId("palette-builtin:approval").click();
  await expect(page.getByTestId("node-approval")).toBeVisible();

  // Drag from hello's `out` handle to the approval's input.
  const from = page.getByTestId("node-hello").locator('.react-flow__handle[data-handleid="out"]');
  const to = page.getByTestId("node-approval").locator(".react-flow__handle-left");
  const a = await from.boundingBox();
  const b = await to.boundingBox();
  if (!a || !b) throw new Error("handles not on screen");
  await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
  await page.mouse.down();
  await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2, { steps: 12 });
  await page.mouse.up();
  await expect(page.locator(".react-flow__edge")).toHaveCount(1);

  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("status")).toHaveText("Saved version 2");
  await page.screenshot({ path: info.outputPath("saved.png") });

  const answer = await request.get(`${trellis.url}/v1/workflows/greet`, { headers: { authorization: `Bearer ${trellis.apiKey}` } });
  const { version, document } = await answer.json();
  expect(version).toBe(2);
  expect(document.nodes.map((n: { id: string }) => n.id)).toEqual(["hello", "approval"]);
  expect(document.edges).toEqual([{ from: "hello", port: "out", to: "approval" }]);
  expect(document.ui.positions.hello).toEqual({ x: 40, y: 120 });
});
