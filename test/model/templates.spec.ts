import assert from 'node:assert/strict';
import { renderTemplate, templateVariables } from '../../src/model/templates.ts';

describe('model: templates', () => {
  it('fills every variable and keeps JSON braces', () => {
    const t = '{"aws": [{"serviceKeyName": "${accessKeyId}", "serviceKeySecret": "${secretAccessKey}"}]}';
    assert.deepEqual(templateVariables(t), ['accessKeyId', 'secretAccessKey']);
    assert.equal(
      renderTemplate(t, { accessKeyId: 'A', secretAccessKey: 'B' }),
      '{"aws": [{"serviceKeyName": "A", "serviceKeySecret": "B"}]}',
    );
  });

  it('refuses a variable it has no value for', () => {
    assert.throws(() => renderTemplate('${key}', {}), RangeError);
  });
});
