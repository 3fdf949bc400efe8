import * as fs from 'node:fs';
import * as path from 'node:path';
import { Stack, Stage } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';

/**
 * What a synthesized function's handler reads as its settings: the template's environment
 * variables plus the settings file inside the function's asset (SETTINGS_FILE), read from the
 * cloud assembly exactly as it would be uploaded.
 */
export function functionSettings(stack: Stack, fn: lambda.IFunction): Record<string, unknown> {
  const assembly = Stage.of(stack)!.synth();
  const template = JSON.parse(fs.readFileSync(path.join(assembly.directory, assembly.getStackArtifact(stack.artifactId).templateFile), 'utf8'));
  const resource = template.Resources[stack.getLogicalId(fn.node.defaultChild as lambda.CfnFunction)];
  const environment: Record<string, unknown> = resource.Properties.Environment?.Variables ?? {};
  if (typeof environment.SETTINGS_FILE !== 'string') return environment;
  // The asset manifest maps the S3 key the function's code points at to the staged folder.
  const key = resource.Properties.Code.S3Key as string;
  const manifestFile = fs.readdirSync(assembly.directory).find((f) => f === `${stack.artifactId}.assets.json`)!;
  const manifest = JSON.parse(fs.readFileSync(path.join(assembly.directory, manifestFile), 'utf8'));
  const asset = Object.values(manifest.files as Record<string, any>)
    .find((f) => Object.values(f.destinations as Record<string, any>).some((d) => d.objectKey === key));
  const assetDir = path.join(assembly.directory, asset.source.path);
  return { ...environment, ...JSON.parse(fs.readFileSync(path.join(assetDir, environment.SETTINGS_FILE), 'utf8')) };
}

/** The environment as Lambda measures it against its 4 KB limit (the JSON of the variables). */
export function environmentJsonBytes(stack: Stack, fn: lambda.IFunction): number {
  const assembly = Stage.of(stack)!.synth();
  const template = JSON.parse(fs.readFileSync(path.join(assembly.directory, assembly.getStackArtifact(stack.artifactId).templateFile), 'utf8'));
  const resource = template.Resources[stack.getLogicalId(fn.node.defaultChild as lambda.CfnFunction)];
  return Buffer.byteLength(JSON.stringify(resource.Properties.Environment?.Variables ?? {}));
}

/** A template value as a string: `Ref`s as `<Ref:Id>`, `Fn::GetAtt` as `<Id.Attr>`, `Fn::Join` joined. */
export function flattenValue(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, any>;
  if (typeof v.Ref === 'string') return `<Ref:${v.Ref}>`;
  if (Array.isArray(v['Fn::GetAtt'])) return `<${v['Fn::GetAtt'].join('.')}>`;
  if (v['Fn::Join']) return (v['Fn::Join'][1] as unknown[]).map(flattenValue).join(v['Fn::Join'][0]);
  return JSON.stringify(value);
}

/** Settings with every deploy-time value flattened, as a handler's config schema takes them. */
export function flatSettings(settings: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, flattenValue(v)]));
}
