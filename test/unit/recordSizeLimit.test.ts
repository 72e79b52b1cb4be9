import assert from 'node:assert/strict';
import { destinationSettingsSchema } from '../../src/domain/destination';
import type { PermissionCheckResult } from '../../src/domain/permissionCheck';
import { recordSizeLimit } from '../../src/domain/recordSizeLimit';

const MiB = 1024 * 1024;
const settings = destinationSettingsSchema.parse({ name: 'n', region: 'us-east-1', stream: 's' });
const check = (stream: string, region: string, maxRecordBytes: number | null): PermissionCheckResult => ({
  checkedAt: '2024-01-01T00:00:00Z',
  region,
  stream,
  streamVerdict: 'exists',
  streamDetail: 'listed',
  permissions: [],
  streamLimit: { verdict: maxRecordBytes === null ? 'denied' : 'granted', maxRecordBytes, detail: '' },
  ok: true,
});

describe('recordSizeLimit', () => {
  it("is the stream's MaxRecordSizeInKiB from the last check when the settings set none", () => {
    assert.equal(settings.maxRecordBytes, undefined, 'no default in the settings');
    assert.equal(recordSizeLimit(settings, check('s', 'us-east-1', 4 * MiB)), 4 * MiB);
  });

  it('is what the settings set, whatever the stream says', () => {
    assert.equal(recordSizeLimit({ ...settings, maxRecordBytes: 2 * MiB }, check('s', 'us-east-1', 4 * MiB)), 2 * MiB);
  });

  it('is 1 MiB without a check, when the stream did not say, or when the check was of another stream or region', () => {
    assert.equal(recordSizeLimit(settings, null), MiB);
    assert.equal(recordSizeLimit(settings, check('s', 'us-east-1', null)), MiB);
    assert.equal(recordSizeLimit(settings, check('other', 'us-east-1', 4 * MiB)), MiB);
    assert.equal(recordSizeLimit(settings, check('s', 'eu-west-1', 4 * MiB)), MiB);
    const earlier = check('s', 'us-east-1', 4 * MiB);
    delete earlier.streamLimit;
    assert.equal(recordSizeLimit(settings, earlier), MiB, 'a check by an earlier version');
  });
});
