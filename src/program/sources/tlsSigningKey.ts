import * as pulumi from '@pulumi/pulumi';
import { PrivateKey } from '@pulumi/tls/privateKey';
import { trustedGenerations } from '../../model/slots.ts';
import { after } from '../staleGuard.ts';
import { creationTime, type KeySource, type SlotKey, type SourceArgs, sourceOf, sourceVars } from './keySource.ts';

const keyOptions = {
  RSA: { algorithm: 'RSA', rsaBits: 4096 },
  ECDSA: { algorithm: 'ECDSA', ecdsaCurve: 'P256' },
  ED25519: { algorithm: 'ED25519' },
} as const;

/**
 * A kOps-style keyset: one private key per generation, named by generation so that advancing the
 * keyset renames roles, not resources. Signers get the primary's private key; verifiers get a
 * trust bundle of the previous, primary and next public keys.
 */
export class TlsSigningKeySource extends pulumi.ComponentResource implements KeySource {
  readonly slots: Record<string, SlotKey> = {};
  readonly vars: Record<string, pulumi.Output<string>>;

  constructor(name: string, args: SourceArgs, opts?: pulumi.ComponentResourceOptions) {
    super('keyslot:source:TlsSigningKey', name, {}, opts);
    const { credential } = args;
    const source = sourceOf(credential, 'tls-signing-key');
    const byGeneration = new Map<number, PrivateKey>();
    for (const [slot, { generation }] of Object.entries(credential.generations)) {
      const key = new PrivateKey(
        `${name}-g${generation}`,
        { ...keyOptions[source.algorithm], algorithm: after(args.ready, keyOptions[source.algorithm].algorithm) },
        { parent: this, additionalSecretOutputs: ['privateKeyPem', 'privateKeyOpenssh', 'privateKeyPemPkcs8'] },
      );
      byGeneration.set(generation, key);
      this.slots[slot] = { generation, createdAt: creationTime(`${name}-g${generation}`, generation, this), resource: key };
    }
    const signer = byGeneration.get(credential.generations.primary!.generation)!;
    const trusted = trustedGenerations(credential.generations).map((g) => byGeneration.get(g)!.publicKeyPem);
    this.vars = sourceVars(args, {
      privateKeyPem: signer.privateKeyPem,
      publicKeyPem: signer.publicKeyPem,
      trustBundle: pulumi.all(trusted).apply((pems) => `${pems.map((p) => p.trimEnd()).join('\n')}\n`),
    });
    this.registerOutputs({});
  }
}
