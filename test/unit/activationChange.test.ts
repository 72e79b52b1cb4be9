import assert from 'node:assert/strict';
import type { Activation } from '../../src/domain/activation';
import { applyActivationChange, parseTriggers } from '../../src/domain/activationChange';
import type { ActivationChange } from '../../src/domain/activationChange';

const none: ActivationChange = {
  segments: [],
  attributes: [],
  addSegments: [],
  removeSegments: [],
  addAttributes: [],
  removeAttributes: [],
  replace: false,
};
const current: Activation = {
  segments: [
    { id: 'a', name: 'A', mappingCreatedAt: 1, mappingUpdatedAt: 2 },
    { id: 'b', mappingCreatedAt: 3, mappingUpdatedAt: 3 },
  ],
  attributes: ['person.email'],
};

describe('applyActivationChange', () => {
  it('maps a first activation as given, with mapping times', () => {
    const { activation, diff } = applyActivationChange(null, { ...none, segments: ['a=A'], attributes: ['x.y'] }, 9);
    assert.deepEqual(activation, {
      segments: [{ id: 'a', name: 'A', mappingCreatedAt: 9, mappingUpdatedAt: 9 }],
      attributes: ['x.y'],
    });
    assert.deepEqual(diff, ['+ segment a (A)', '+ attribute x.y']);
  });

  it('adds and removes only what it names; segments still mapped keep their mapping times', () => {
    const { activation, diff } = applyActivationChange(
      current,
      { ...none, addSegments: ['c'], removeSegments: ['b'], addAttributes: ['person.name'] },
      9,
    );
    assert.deepEqual(activation, {
      segments: [current.segments[0], { id: 'c', mappingCreatedAt: 9, mappingUpdatedAt: 9 }],
      attributes: ['person.email', 'person.name'],
    });
    assert.deepEqual(diff, ['- segment b', '+ segment c', '+ attribute person.name']);
  });

  it('refuses a whole mapping that unmaps anything unless --replace confirms it', () => {
    assert.throws(
      () => applyActivationChange(current, { ...none, segments: ['a'] }, 9),
      /unmaps segment b, attribute person.email: add --replace to confirm/,
    );
    const { activation, diff } = applyActivationChange(
      current,
      { ...none, segments: ['a', 'b', 'c'], attributes: ['person.email'] },
      9,
    );
    assert.deepEqual(diff, ['+ segment c']);
    assert.equal(activation.segments[0]?.mappingCreatedAt, 1);
    const replaced = applyActivationChange(current, { ...none, segments: ['b'], replace: true }, 9);
    assert.deepEqual(replaced.diff, ['- segment a', '- attribute person.email']);
    assert.deepEqual(replaced.activation.segments, [current.segments[1]]);
  });

  it('renaming a segment updates mappingUpdatedAt only', () => {
    const { activation, diff } = applyActivationChange(current, { ...none, addSegments: ['a=New'] }, 9);
    assert.deepEqual(
      activation.segments.find((s) => s.id === 'a'),
      { id: 'a', name: 'New', mappingCreatedAt: 1, mappingUpdatedAt: 9 },
    );
    assert.deepEqual(diff, ['~ segment a named New']);
  });

  it('refuses removing what is not mapped, and mixing both forms', () => {
    assert.throws(
      () => applyActivationChange(current, { ...none, removeSegments: ['z'] }, 9),
      /--remove-segment z: is not mapped/,
    );
    assert.throws(
      () => applyActivationChange(current, { ...none, segments: ['a'], addSegments: ['b'] }, 9),
      /either --segment\/--attribute .* or --add-\*\/--remove-\*/,
    );
  });

  it('changes triggers and identity namespaces alone, keeping the mapping, and keeps them across mapping edits', () => {
    const { activation, diff } = applyActivationChange(
      current,
      {
        ...none,
        triggers: ['segmentation', 'identity'],
        identityNamespaces: { mode: 'exclude', namespaces: ['phone'] },
      },
      9,
    );
    assert.deepEqual(activation, {
      ...current,
      triggers: ['segmentation', 'identity'],
      identityNamespaces: { mode: 'exclude', namespaces: ['phone'] },
    });
    assert.deepEqual(diff, ['~ triggers segmentation,identity', '~ identity namespaces all but phone']);
    const edited = applyActivationChange(activation, { ...none, addAttributes: ['person.name'] }, 9).activation;
    assert.deepEqual(
      [edited.triggers, edited.identityNamespaces],
      [activation.triggers, activation.identityNamespaces],
    );
    // All triggers and all namespaces are the defaults: the fields go away.
    const reset = applyActivationChange(
      activation,
      { ...none, triggers: ['segmentation', 'attribute', 'identity'], identityNamespaces: null },
      9,
    );
    assert.deepEqual(reset.activation, current);
    assert.deepEqual(reset.diff, ['~ triggers segmentation,attribute,identity', '~ identity namespaces all']);
  });

  it('refuses an unknown trigger naming the flag, and triggers alone before any mapping', () => {
    assert.throws(() => parseTriggers('segmentation,clicks'), /^InvalidInputError: --on: "clicks" is not a trigger/);
    assert.throws(
      () => applyActivationChange(null, { ...none, triggers: ['attribute'] }, 9),
      /segments: give --segment/,
    );
  });
});
