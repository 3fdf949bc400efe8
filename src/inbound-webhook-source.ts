import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';

/** Severity of an event (the API's `severity`). */
export enum Severity {
  LOW = 'LOW',
  MEDIUM = 'MEDIUM',
  HIGH = 'HIGH',
  CRITICAL = 'CRITICAL',
}

/** How a third party signs its webhooks. */
export enum InboundWebhookProvider {
  SHOPIFY = 'shopify',
  GITHUB = 'github',
  STRIPE = 'stripe',
  STANDARD_WEBHOOKS = 'standard-webhooks',
  HMAC = 'hmac',
}

/** Hash of an HMAC signature. */
export enum HmacAlgorithm {
  SHA256 = 'sha256',
  SHA512 = 'sha512',
}

/** Text encoding of an HMAC signature. */
export enum SignatureEncoding {
  HEX = 'hex',
  BASE64 = 'base64',
}

/** Options every inbound source has. */
export interface InboundWebhookSourceOptions {
  /**
   * Name of the source: the route is `POST /webhooks/{name}` and event types are prefixed with
   * it (`shop.orders/create`). 1–32 of `a-z 0-9 -`.
   */
  readonly name: string;

  /**
   * The signing secret, as the provider shows it (a plain string secret). During a rotation the
   * previous version (AWSPREVIOUS) is accepted too.
   */
  readonly secret: secretsmanager.ISecret;

  /**
   * Severity given to the source's events.
   *
   * @default Severity.MEDIUM
   */
  readonly severity?: Severity;

  /**
   * The API key the source's events belong to: it may read them, and with `Isolation.API_KEY`
   * only its subscriptions receive them.
   *
   * @default - the service's own `apiKey`
   */
  readonly apiKey?: apigateway.IApiKey;
}

/** Options of a generic HMAC source. */
export interface HmacWebhookSourceOptions extends InboundWebhookSourceOptions {
  /** Header that carries the signature, e.g. `X-Signature`. */
  readonly header: string;

  /**
   * @default HmacAlgorithm.SHA256
   */
  readonly algorithm?: HmacAlgorithm;

  /**
   * @default SignatureEncoding.HEX
   */
  readonly encoding?: SignatureEncoding;

  /**
   * Text before the signature in the header, e.g. `sha256=`.
   *
   * @default - none
   */
  readonly prefix?: string;

  /**
   * Header that names the event type.
   *
   * @default - the body's `type` field, else `webhook`
   */
  readonly eventTypeHeader?: string;

  /**
   * Header with the sender's delivery id, used to process each delivery once.
   *
   * @default - no deduplication of repeated deliveries
   */
  readonly deliveryIdHeader?: string;
}

/**
 * A third party that sends signed webhooks to `POST /webhooks/{name}`. The signature is checked
 * on the raw body in the ingest function before anything is queued.
 */
export class InboundWebhookSource {
  /** Shopify: `X-Shopify-Hmac-Sha256` (base64 HMAC-SHA256), type `X-Shopify-Topic`, id `X-Shopify-Webhook-Id`. */
  public static shopify(options: InboundWebhookSourceOptions): InboundWebhookSource {
    return new InboundWebhookSource(InboundWebhookProvider.SHOPIFY, options);
  }

  /** GitHub: `X-Hub-Signature-256` (`sha256=` hex), type `X-GitHub-Event`, id `X-GitHub-Delivery`. */
  public static github(options: InboundWebhookSourceOptions): InboundWebhookSource {
    return new InboundWebhookSource(InboundWebhookProvider.GITHUB, options);
  }

  /** Stripe: `Stripe-Signature` (`t=…,v1=…`, 5-minute tolerance), type and id from the event body. */
  public static stripe(options: InboundWebhookSourceOptions): InboundWebhookSource {
    return new InboundWebhookSource(InboundWebhookProvider.STRIPE, options);
  }

  /** Any Standard Webhooks sender: `webhook-id`, `webhook-timestamp`, `webhook-signature` (5-minute tolerance). */
  public static standardWebhooks(options: InboundWebhookSourceOptions): InboundWebhookSource {
    return new InboundWebhookSource(InboundWebhookProvider.STANDARD_WEBHOOKS, options);
  }

  /** Any sender that puts an HMAC of the raw body in a header. */
  public static hmac(options: HmacWebhookSourceOptions): InboundWebhookSource {
    return new InboundWebhookSource(InboundWebhookProvider.HMAC, options, {
      header: options.header,
      algorithm: options.algorithm ?? HmacAlgorithm.SHA256,
      encoding: options.encoding ?? SignatureEncoding.HEX,
      prefix: options.prefix,
      eventTypeHeader: options.eventTypeHeader,
      deliveryIdHeader: options.deliveryIdHeader,
    });
  }

  /** Route name. */
  public readonly name: string;
  /** Signing scheme. */
  public readonly provider: InboundWebhookProvider;
  /** The signing secret. */
  public readonly secret: secretsmanager.ISecret;
  /** Severity of the source's events. */
  public readonly severity: Severity;
  /** The API key the source's events belong to (undefined: the service's own key). */
  public readonly apiKey?: apigateway.IApiKey;
  /** Generic HMAC settings (HMAC sources only). */
  public readonly hmacHeader?: string;
  /** Generic HMAC settings (HMAC sources only). */
  public readonly hmacAlgorithm?: HmacAlgorithm;
  /** Generic HMAC settings (HMAC sources only). */
  public readonly hmacEncoding?: SignatureEncoding;
  /** Generic HMAC settings (HMAC sources only). */
  public readonly hmacPrefix?: string;
  /** Generic HMAC settings (HMAC sources only). */
  public readonly eventTypeHeader?: string;
  /** Generic HMAC settings (HMAC sources only). */
  public readonly deliveryIdHeader?: string;

  private constructor(
    provider: InboundWebhookProvider,
    options: InboundWebhookSourceOptions,
    hmac?: {
      header: string;
      algorithm: HmacAlgorithm;
      encoding: SignatureEncoding;
      prefix?: string;
      eventTypeHeader?: string;
      deliveryIdHeader?: string;
    },
  ) {
    this.provider = provider;
    this.name = options.name;
    this.secret = options.secret;
    this.severity = options.severity ?? Severity.MEDIUM;
    this.apiKey = options.apiKey;
    this.hmacHeader = hmac?.header;
    this.hmacAlgorithm = hmac?.algorithm;
    this.hmacEncoding = hmac?.encoding;
    this.hmacPrefix = hmac?.prefix;
    this.eventTypeHeader = hmac?.eventTypeHeader;
    this.deliveryIdHeader = hmac?.deliveryIdHeader;
  }

  /**
   * What the ingest function needs to verify this source, with the field names of its schema
   * (`inboundSourceSchema` in lambda/core/inbound-webhooks.ts); never the secret itself. It goes
   * into the function's settings file, which cannot hold deploy-time values: the secret ARNs
   * travel in the environment (INBOUND_SECRET_IDS, in the same order).
   *
   * @internal
   */
  public _toSetting(): Record<string, string> {
    return {
      name: this.name,
      provider: this.provider,
      severity: this.severity,
      ...(this.hmacHeader ? { header: this.hmacHeader, algorithm: this.hmacAlgorithm!, encoding: this.hmacEncoding! } : {}),
      ...(this.hmacPrefix ? { prefix: this.hmacPrefix } : {}),
      ...(this.eventTypeHeader ? { eventTypeHeader: this.eventTypeHeader } : {}),
      ...(this.deliveryIdHeader ? { deliveryIdHeader: this.deliveryIdHeader } : {}),
    };
  }
}
