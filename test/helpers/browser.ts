import { existsSync } from 'node:fs'
import { type Browser, chromium } from 'playwright-core'
import type { Test } from 'tap'

export const CHROMIUM = '/usr/bin/chromium'

/** Why a browser test cannot run here (no Chromium outside CI), or false. */
export const noBrowser = !existsSync(CHROMIUM) && !process.env.CI && `${CHROMIUM} is not installed`

/** Debian's Chromium, headless, with nothing that reaches the network on its own; closed when `t` ends. */
export async function launchBrowser(t: Test): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.teardown(() => browser.close())
  return browser
}
