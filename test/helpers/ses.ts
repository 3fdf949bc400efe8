import type { AddressInfo } from 'node:net';
import sesV2Local from 'aws-ses-v2-local';

/** One email as the SES v2 emulator stored it (`GET /store`). */
export interface SentEmail {
  readonly messageId: string;
  readonly from: string;
  readonly destination: { readonly to: string[]; readonly cc: string[]; readonly bcc: string[] };
  readonly subject: string;
  readonly body: { readonly html?: string; readonly text?: string };
  /** Epoch seconds. */
  readonly at: number;
}

export interface LocalSes {
  /** `http://127.0.0.1:<port>`, for AWS_ENDPOINT_URL_SESV2. */
  readonly endpoint: string;
  /** Every email sent so far, read from the emulator's HTTP API. */
  emails(): Promise<SentEmail[]>;
  /** The emails addressed to `address`. */
  emailsTo(address: string): Promise<SentEmail[]>;
  stop(): Promise<void>;
}

/** Starts aws-ses-v2-local (the SES v2 emulator) on a free port of 127.0.0.1. */
export async function startSes(): Promise<LocalSes> {
  const server = await sesV2Local({ host: '127.0.0.1', port: 0 });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const emails = async (): Promise<SentEmail[]> => {
    const response = await fetch(`${endpoint}/store`);
    if (!response.ok) throw new Error(`SES emulator store answered ${response.status}`);
    return ((await response.json()) as { emails: SentEmail[] }).emails;
  };
  return {
    endpoint,
    emails,
    emailsTo: async (address) => (await emails()).filter((e) => e.destination.to.includes(address)),
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
