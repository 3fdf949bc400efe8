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
  Validations.of(scope).acknowledge(...rules);
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
