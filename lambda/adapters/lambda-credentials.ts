import { fromEnv } from '@aws-sdk/credential-provider-env';

/**
 * The one credential source the functions use: Lambda gives an on-demand function its execution
 * role's temporary credentials in AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
 * The handler bundles put this module in place of the SDK's default chain,
 * `@aws-sdk/credential-provider-node` (ini and SSO files, STS, web identity, container and
 * instance metadata: ~140 KB that a function would compile at every cold start and never use),
 * with an esbuild alias in the bundle:handlers task (.projenrc.ts).
 */
export const defaultProvider = fromEnv;
