import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretSource } from '../core/inbound-service';

/** A forced re-read happens at most this often per secret, so bad signatures cannot flood Secrets Manager. */
const MIN_REFRESH_INTERVAL_MS = 60_000;
/** Even without a failure, a secret is re-read after this long: a revoked secret stops working. */
const MAX_AGE_MS = 5 * 60_000;

/**
 * Signing secrets from Secrets Manager, read once per container and kept for five minutes:
 * AWSCURRENT, plus AWSPREVIOUS while a rotation is under way. Re-read sooner (at most once a
 * minute) after a failed verification, so a rotated secret works at once.
 */
export class SecretsManagerSource implements SecretSource {
  private readonly cache = new Map<string, { secrets: string[]; readAt: number }>();

  constructor(private readonly client: SecretsManagerClient, private readonly now: () => number = Date.now) {}

  public async secrets(secretId: string, refresh: boolean): Promise<string[]> {
    const cached = this.cache.get(secretId);
    const age = cached ? this.now() - cached.readAt : Number.POSITIVE_INFINITY;
    if (cached && age < MAX_AGE_MS && (!refresh || age < MIN_REFRESH_INTERVAL_MS)) return cached.secrets;
    let current: string | undefined;
    let previous: string | undefined;
    try {
      [current, previous] = await Promise.all([this.read(secretId, 'AWSCURRENT'), this.read(secretId, 'AWSPREVIOUS')]);
    } catch (error) {
      // A routine re-read that fails keeps the service up with what it had; a first read cannot.
      if (cached && !refresh) return cached.secrets;
      throw error;
    }
    if (current === undefined) throw new Error(`secret ${secretId} has no current value`);
    const secrets = previous !== undefined && previous !== current ? [current, previous] : [current];
    this.cache.set(secretId, { secrets, readAt: this.now() });
    return secrets;
  }

  private async read(secretId: string, stage: 'AWSCURRENT' | 'AWSPREVIOUS'): Promise<string | undefined> {
    try {
      const result = await this.client.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: stage }));
      return result.SecretString;
    } catch (error) {
      // No previous version: not a rotation in progress.
      if (stage === 'AWSPREVIOUS' && error instanceof Error && error.name === 'ResourceNotFoundException') return undefined;
      throw error;
    }
  }
}
