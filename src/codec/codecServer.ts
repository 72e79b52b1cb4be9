import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { bearerCheck } from './codecAuth';
import type { CodecAuth } from './codecAuth';

/** Where the Temporal Web UI runs by default (`temporal server start-dev`, `kinesis-activation dev`). */
export const DEFAULT_UI_ORIGINS = ['http://localhost:8233', 'http://127.0.0.1:8233'];

const MAX_BODY_BYTES = 64 * 1024 * 1024;

export interface CodecServerOptions {
  codec: PayloadCodec;
  port?: number;
  /** Loopback by default: whoever holds the key runs the endpoint beside their browser. */
  host?: string;
  /** Browser origins (the Temporal Web UI) allowed to call the endpoint. */
  allowedOrigins?: readonly string[];
  /** Whoever can reach the port could decrypt every payload: callers must present a token. */
  auth: CodecAuth;
}

export interface CodecServer {
  url: string;
  stop(): Promise<void>;
}

/** A payload as the Web UI sends it: proto3 JSON, bytes in base64. */
interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

/**
 * The remote codec endpoint of the Temporal Web UI and CLI: POST /encode and /decode take and
 * answer `{"payloads": [...]}`, with CORS for the UI's origins, so people holding the key see
 * decrypted payloads in the UI while the server keeps only ciphertext.
 */
export async function startCodecServer(options: CodecServerOptions): Promise<CodecServer> {
  const allowed = new Set(options.allowedOrigins ?? DEFAULT_UI_ORIGINS);
  const host = options.host ?? '127.0.0.1';
  const authorized = bearerCheck(options.auth, host);
  const server: Server = createServer((req, res) => {
    handle(options.codec, allowed, authorized, req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 400, { message: err instanceof Error ? err.message : String(err) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function handle(
  codec: PayloadCodec,
  allowed: ReadonlySet<string>,
  authorized: (authorization: string | undefined) => boolean,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const origin = req.headers.origin;
  if (origin !== undefined) {
    if (!allowed.has(origin))
      return send(res, 403, {
        message: `origin ${origin} is not allowed; start the codec server with --allow-origin ${origin}`,
      });
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Access-Control-Allow-Credentials', 'true');
    res.setHeader('Vary', 'Origin');
  }
  if (req.method === 'OPTIONS') {
    res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
    res.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization');
    res.setHeader('Access-Control-Max-Age', '600');
    res.writeHead(204).end();
    return;
  }
  // After CORS, so that the UI can read the refusal; preflights carry no credentials.
  if (!authorized(req.headers.authorization)) {
    res.setHeader('WWW-Authenticate', 'Bearer');
    return send(res, 401, { message: 'a valid bearer token is required (Authorization: Bearer <token>)' });
  }
  const path = new URL(req.url ?? '/', 'http://codec').pathname.replace(/\/+$/, '');
  const convert =
    path === '/encode' ? codec.encode.bind(codec) : path === '/decode' ? codec.decode.bind(codec) : undefined;
  if (req.method !== 'POST' || !convert) return send(res, 404, { message: 'POST /encode or /decode' });
  const body = JSON.parse(await readBody(req)) as { payloads?: JsonPayload[] };
  if (!Array.isArray(body.payloads)) return send(res, 400, { message: 'body must be {"payloads": [...]}' });
  const payloads = await convert(body.payloads.map(fromJson));
  send(res, 200, { payloads: payloads.map(toJson) });
}

function fromJson(payload: JsonPayload): Payload {
  const metadata = Object.fromEntries(
    Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64')]),
  );
  return { metadata, data: Buffer.from(payload.data ?? '', 'base64') };
}

function toJson(payload: Payload): JsonPayload {
  const metadata = Object.fromEntries(
    Object.entries(payload.metadata ?? {}).map(([key, value]) => [
      key,
      Buffer.from(value ?? new Uint8Array(0)).toString('base64'),
    ]),
  );
  return { metadata, data: Buffer.from(payload.data ?? new Uint8Array(0)).toString('base64') };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new Error('request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
