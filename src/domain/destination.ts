import { z } from 'zod';
import { consentRuleSchema } from './consent';
import { exportOptionsSchema } from './exportOptions';
import { defaultPartitionKeyStrategy, partitionKeyStrategySchema } from './partitionKeyStrategy';
import { MiB } from './recordSizeLimit';
import { isStreamRef, parseStreamArn } from './streamRef';

/** An environment variable name: where the worker finds a secret. The secret itself never travels. */
const envVarName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name such as KINESIS_SECRET');

/** A file on the worker, named by absolute path (workers may run from any directory). */
const workerFilePath = z.string().regex(/^(\/|[A-Za-z]:[\\/])/, 'must be an absolute file path on the worker');

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });

/** Access key id + secret (the seed); the secret is named by reference, in exactly one place. */
const accessKeyCredentialsSchema = z
  .strictObject({
    type: z.literal('accessKey'),
    accessKeyId: z
      .string()
      .regex(/^[A-Z0-9]{16,128}$/, 'must be an AWS access key id (16-128 upper-case letters and digits)'),
    secretAccessKeyEnv: envVarName.optional(),
    secretAccessKeyFile: workerFilePath.optional(),
  })
  .superRefine((value, ctx) => {
    const references = [value.secretAccessKeyEnv, value.secretAccessKeyFile].filter((r) => r !== undefined).length;
    if (references !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['secretAccessKeyEnv'],
        message:
          references === 0
            ? 'is required (or secretAccessKeyFile): where the worker reads the secret access key'
            : 'give secretAccessKeyEnv or secretAccessKeyFile, not both',
      });
    }
  });

/** An IAM role the worker assumes with its own identity, as Segment, RudderStack and Hightouch offer. */
const assumeRoleCredentialsSchema = z.strictObject({
  type: z.literal('assumeRole'),
  roleArn: z
    .string()
    .regex(
      /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@\-/]{1,512}$/,
      'must be an IAM role ARN such as arn:aws:iam::123456789012:role/kinesis-writer',
    ),
  externalId: z
    .string()
    .regex(/^[\w+=,.@:/-]{2,1224}$/, 'must be 2-1224 characters of letters, digits and +=,.@:/-')
    .optional(),
  sessionName: z
    .string()
    .regex(/^[\w+=,.@-]{2,64}$/, 'must be 2-64 characters of letters, digits and +=,.@-')
    .optional(),
  /** STS endpoint override (a VPC endpoint, or a local emulator); the regional endpoint when absent. */
  stsEndpoint: httpUrl.optional(),
});

/**
 * How the worker authenticates to AWS. Only references to secrets are kept here, so settings
 * can sit in Temporal history, memo and the store.
 */
export const credentialsSchema = z.discriminatedUnion('type', [
  accessKeyCredentialsSchema,
  assumeRoleCredentialsSchema,
  z.strictObject({ type: z.literal('default') }),
]);
export type Credentials = z.infer<typeof credentialsSchema>;

/** A Kinesis destination (a connection, as in the seed), without any secret value. */
export const destinationSettingsSchema = z
  .strictObject({
    name: z.string().trim().min(1, 'must not be empty').max(256),
    description: z.string().max(1024).optional(),
    region: z.string().regex(/^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d{1,2}$/, 'must be an AWS region such as us-east-1'),
    stream: z
      .string()
      .refine(
        isStreamRef,
        'must be a Kinesis stream name (1-128 of a-z A-Z 0-9 _ . -) or ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)',
      ),
    endpoint: httpUrl.optional(),
    credentials: credentialsSchema.default({ type: 'default' }),
    exportOptions: exportOptionsSchema.default({
      includeSegmentNames: false,
      includeSegmentTimestamps: false,
      statusStyle: 'existing',
      includeMessageId: false,
    }),
    partitionKey: partitionKeyStrategySchema.default(defaultPartitionKeyStrategy),
    /** Absent: every profile may be exported. */
    consent: consentRuleSchema.optional(),
    /**
     * The largest record to send (streams can opt in to records up to 10 MiB). Absent: what the
     * stream says at the permission check (see recordSizeLimit).
     */
    maxRecordBytes: z
      .number()
      .int()
      .min(1024)
      .max(10 * MiB)
      .optional(),
  })
  .superRefine((settings, ctx) => {
    const arn = parseStreamArn(settings.stream);
    if (arn && arn.region !== settings.region) {
      ctx.addIssue({
        code: 'custom',
        path: ['stream'],
        message: `is a stream in ${arn.region} (its ARN says), not in the region ${settings.region}`,
      });
    }
  });
export type DestinationSettings = z.infer<typeof destinationSettingsSchema>;
export type DestinationSettingsInput = z.input<typeof destinationSettingsSchema>;

export const destinationIdSchema = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'must be 1-64 of a-z A-Z 0-9 _ -');
