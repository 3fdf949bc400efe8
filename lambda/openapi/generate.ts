import * as fs from 'node:fs';
import * as path from 'node:path';
import { openApiDocument } from './document';

/**
 * `npx projen openapi` (part of the build, before bundling): writes openapi.json at the package's
 * root, where the npm package ships it. The committed file must equal what this writes
 * (test/lambda/openapi/document.test.ts), so `npx projen build` leaves no diff.
 */
export const OPENAPI_FILE = path.join(__dirname, '..', '..', 'openapi.json');

export function openApiText(): string {
  return JSON.stringify(openApiDocument(), null, 2) + '\n';
}

if (require.main === module) {
  fs.writeFileSync(OPENAPI_FILE, openApiText());
}
