import * as dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';

/** A segment or subsegment document as the X-Ray SDK sends it to the daemon. */
export interface XRayDocument {
  readonly id: string;
  readonly name: string;
  readonly trace_id?: string;
  readonly parent_id?: string;
  readonly type?: string;
  readonly namespace?: string;
  readonly start_time?: number;
  readonly end_time?: number;
  readonly in_progress?: boolean;
  readonly error?: boolean;
  readonly fault?: boolean;
  readonly throttle?: boolean;
  readonly http?: { readonly request?: Record<string, unknown>; readonly response?: { readonly status?: number } };
  readonly aws?: Record<string, unknown>;
  readonly annotations?: Record<string, unknown>;
  readonly metadata?: Record<string, unknown>;
  readonly subsegments?: readonly XRayDocument[];
  readonly [key: string]: unknown;
}

export interface XRayDaemon {
  /** `127.0.0.1:port`, for AWS_XRAY_DAEMON_ADDRESS. */
  readonly address: string;
  /** Every document received, in order, with its raw text (to search for what must not be there). */
  readonly documents: XRayDocument[];
  readonly raw: string[];
  /** Documents and their nested subsegments, flattened. */
  all(): XRayDocument[];
  clear(): void;
  stop(): Promise<void>;
}

/**
 * A stand-in for the X-Ray daemon: the SDK sends each (sub)segment as one UDP datagram to
 * AWS_XRAY_DAEMON_ADDRESS, a JSON header line (`{"format":"json","version":1}`) then the
 * document. This one listens on 127.0.0.1 and keeps what arrives.
 */
export async function startXRayDaemon(): Promise<XRayDaemon> {
  const socket = dgram.createSocket('udp4');
  const documents: XRayDocument[] = [];
  const raw: string[] = [];
  socket.on('message', (message) => {
    const text = message.toString('utf8');
    const newline = text.indexOf('\n');
    const header = JSON.parse(text.slice(0, newline)) as { format?: string };
    if (header.format !== 'json') return;
    raw.push(text.slice(newline + 1));
    documents.push(JSON.parse(text.slice(newline + 1)) as XRayDocument);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const flatten = (d: XRayDocument): XRayDocument[] => [d, ...(d.subsegments ?? []).flatMap(flatten)];
  return {
    address: `127.0.0.1:${(socket.address() as AddressInfo).port}`,
    documents,
    raw,
    all: () => documents.flatMap(flatten),
    clear: () => {
      documents.length = 0;
      raw.length = 0;
    },
    stop: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
