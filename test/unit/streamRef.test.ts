import assert from 'node:assert/strict';
import { destinationSettingsSchema } from '../../src/domain/destination';
import { isStreamRef, parseStreamArn, streamNameOf, streamParameter } from '../../src/domain/streamRef';

const ARN = 'arn:aws:kinesis:eu-west-1:123456789012:stream/profiles.v2';

describe('stream named by name or ARN', () => {
  it('parses a stream ARN into region, account and name; a name is no ARN', () => {
    assert.deepEqual(parseStreamArn(ARN), { region: 'eu-west-1', account: '123456789012', name: 'profiles.v2' });
    assert.deepEqual(parseStreamArn('arn:aws-cn:kinesis:cn-north-1:123456789012:stream/s')?.region, 'cn-north-1');
    assert.equal(parseStreamArn('profiles'), null);
    for (const bad of [
      'arn:aws:kinesis:eu-west-1:1234:stream/s',
      'arn:aws:firehose:eu-west-1:123456789012:deliverystream/s',
      'arn:aws:kinesis:eu-west-1:123456789012:stream/',
      `${ARN}/consumer/c:1`,
    ]) {
      assert.equal(parseStreamArn(bad), null, bad);
      assert.equal(isStreamRef(bad), false, bad);
    }
  });

  it('names the stream by StreamARN in calls when given an ARN, by StreamName otherwise', () => {
    assert.deepEqual(streamParameter(ARN), { StreamARN: ARN });
    assert.deepEqual(streamParameter('profiles'), { StreamName: 'profiles' });
    assert.equal(streamNameOf(ARN), 'profiles.v2');
    assert.equal(streamNameOf('profiles'), 'profiles');
  });

  it("refuses settings whose region differs from the ARN's, naming the stream field", () => {
    const base = { name: 'n', stream: ARN };
    assert.equal(destinationSettingsSchema.parse({ ...base, region: 'eu-west-1' }).stream, ARN);
    const refused = destinationSettingsSchema.safeParse({ ...base, region: 'us-east-1' });
    assert.equal(refused.success, false);
    assert.deepEqual(
      refused.error?.issues.map((i) => [i.path.join('.'), i.message]),
      [['stream', 'is a stream in eu-west-1 (its ARN says), not in the region us-east-1']],
    );
  });
});
