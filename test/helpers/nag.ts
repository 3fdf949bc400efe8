import { App } from 'aws-cdk-lib';
import { AwsSolutionsChecks, NagPack, ServerlessChecks } from 'cdk-nag';

/** One finding of a cdk-nag pack, as `validateScope` reports it (verbose). */
export interface Violation {
  readonly ruleName: string;
  readonly severity?: string;
  readonly description: string;
  readonly violatingResources: { readonly constructPath?: string }[];
}

export type PackName = 'AwsSolutions' | 'Serverless';

const PACKS: Record<PackName, () => NagPack> = {
  AwsSolutions: () => new AwsSolutionsChecks(undefined, { verbose: true }),
  Serverless: () => new ServerlessChecks(undefined, { verbose: true }),
};

/**
 * Runs a cdk-nag pack over an app. The app is synthesized first, so aspects and lazy additions
 * have run and the checked tree is the deployed one.
 */
export function nag(app: App, pack: PackName = 'AwsSolutions'): { success: boolean; violations: Violation[] } {
  app.synth();
  return PACKS[pack]().validateScope(app) as { success: boolean; violations: Violation[] };
}

/** Findings as readable lines (rule, severity, the construct paths), for test failure messages. */
export function describeViolations(violations: readonly Violation[]): string {
  return violations
    .map((v) => `[${v.severity}] ${v.ruleName}: ${v.description}\n    ${v.violatingResources.map((r) => r.constructPath).join('\n    ')}`)
    .join('\n');
}
