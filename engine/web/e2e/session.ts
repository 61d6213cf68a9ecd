// Shared steps of the browser tests: an owner with a password of their
// own, API calls with the tenant's key, and signing in through the page.
import { expect, type APIRequestContext, type Page } from "@playwright/test";
import type { Trellis } from "./server";

export const PASSWORD = "a passphrase of my own";

/// Swaps a member's one-time password for `PASSWORD` through the API.
export async function choosePassword(request: APIRequestContext, trellis: Trellis, email: string, oneTime: string) {
  const login = await request.post(`${trellis.url}/v1/auth/login`, { data: { email, password: oneTime } });
  expect(login.ok()).toBe(true);
  const { access_token } = await login.json();
  const changed = await request.post(`${trellis.url}/v1/me/password`, {
    headers: { authorization: `Bearer ${access_token}` },
    data: { current_password: oneTime, new_password: PASSWORD },
  });
  expect(changed.ok()).toBe(true);
}

export function withKey(trellis: Trellis) {
  return { authorization: `Bearer ${trellis.apiKey}` };
}

export async function signIn(page: Page, trellis: Trellis, email = trellis.owner.email) {
  await page.goto(trellis.url + "/");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("who")).toBeVisible();
}

/// Drags from one node's output port to another node's input.
export async function connect(page: Page, from: string, port: string, to: string) {
  const source = page.getByTestId(`node-${from}`).locator(`.react-flow__handle[data-handleid="${port}"]`);
  const target = page.getByTestId(`node-${to}`).locator(".react-flow__handle-left");
  const a = await source.boundingBox();
  const b = await target.boundingBox();
  if (!a || !b) throw new Error("handles not on screen");
  await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
  await page.mouse.down();
  await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2, { steps: 12 });
  await page.mouse.up();
}
