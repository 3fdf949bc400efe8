import { CfnResource, Validations } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/** A cdk-nag rule this construct breaks on purpose, with the reason. */
export interface NagAcknowledgment {
  /** Rule id, with the finding for per-finding rules: `AwsSolutions-IAM5[Action::kms:ReEncrypt*]`. */
  readonly id: string;
  readonly reason: string;
}

/**
 * Records why a cdk-nag finding is acceptable, so consumers who run cdk-nag see only findings
 * about their own code. Written both ways cdk-nag reads them: CDK's `Validations` (cdk-nag 3)
 * and the `cdk_nag` metadata of the CloudFormation resources (cdk-nag 2).
 */
export function acknowledge(scope: IConstruct, ...rules: NagAcknowledgment[]): void {
  // Validations refuses an id with more than one `::` (it takes `::` for its own prefix), yet a
  // finding about a managed policy is named by its ARN (`Policy::arn:<AWS::Partition>:iam::aws:…`)
  // and cdk-nag 3 matches the finding's id exactly. Such ids go into the same metadata directly,
  // in the shape Validations writes (the last entry holds every acknowledgment so far).
  const [plain, raw] = [rules.filter((r) => r.id.split('::').length <= 2), rules.filter((r) => r.id.split('::').length > 2)];
  if (plain.length > 0) Validations.of(scope).acknowledge(...plain);
  if (raw.length > 0) {
    const entries = scope.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY);
    const acknowledged = { ...(entries[entries.length - 1]?.data as Record<string, string> | undefined) };
    for (const r of raw) acknowledged[r.id] = r.reason;
    scope.node.addMetadata(Validations.ACKNOWLEDGED_RULES_METADATA_KEY, acknowledged);
  }
  const resources = scope.node.findAll().filter((c): c is CfnResource => CfnResource.isCfnResource(c));
  for (const resource of resources) {
    const existing = (resource.getMetadata('cdk_nag') as { rules_to_suppress?: unknown[] } | undefined)?.rules_to_suppress ?? [];
    resource.addMetadata('cdk_nag', {
      rules_to_suppress: [
        ...existing,
        ...rules.map((r) => {
          const finding = /^([^[]+)\[(.+)\]$/.exec(r.id);
          return finding ? { id: finding[1], reason: r.reason, applies_to: [finding[2]] } : { id: r.id, reason: r.reason };
        }),
      ],
    });
  }
}
