/**
 * A real S3 API on loopback (s3rver, files in a temp dir), filled through the real AWS SDK, with a
 * log of the requests it answered. s3rver checks the access key id (S3RVER) but not signatures.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeleteObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import S3rver from "s3rver";

export const S3_ACCESS_KEY_ID = "S3RVER";
export const S3_SECRET_ACCESS_KEY = "S3RVER";

export interface SeenRequest {
  method: string;
  url: string;
  ifNoneMatch?: string;
  status?: number;
}

export interface LocalS3 {
  endpoint: string;
  port: number;
  requests: SeenRequest[];
  put(bucket: string, key: string, body: Uint8Array | string): Promise<void>;
  remove(bucket: string, key: string): Promise<void>;
  close(): Promise<void>;
}

export async function startS3(buckets: string[] = ["models"], port = 0): Promise<LocalS3> {
  const directory = mkdtempSync(join(tmpdir(), "forestd-s3rver-"));
  const server = new S3rver({
    address: "127.0.0.1",
    port,
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  const address = await server.run();
  const requests: SeenRequest[] = [];
  server.httpServer.on("request", (req, res) => {
    const seen: SeenRequest = {
      method: req.method ?? "",
      url: req.url ?? "",
      ifNoneMatch: req.headers["if-none-match"] as string | undefined,
    };
    requests.push(seen);
    res.on("finish", () => {
      seen.status = res.statusCode;
    });
  });
  const endpoint = `http://127.0.0.1:${address.port}`;
  const client = new S3Client({
    region: "us-east-1",
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: S3_ACCESS_KEY_ID, secretAccessKey: S3_SECRET_ACCESS_KEY },
    // s3rver predates the SDK's default CRC32 trailers (aws-chunked uploads) and would store them.
    requestChecksumCalculation: "WHEN_REQUIRED",
  });
  return {
    endpoint,
    port: address.port,
    requests,
    async put(bucket, key, body) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    },
    async remove(bucket, key) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },
    async close() {
      client.destroy();
      await server.close().catch(() => undefined);
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
