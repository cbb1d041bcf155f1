// Independent JavaScript receiver: the README's snippet, run by the interop tests.
// stdin: {"headers": {...}, "body": "<jwe>"}; args: <whsec secret> <PKCS#8 PEM path>.
// Prints the decrypted plaintext; exits non-zero on any failure.
import { Webhook } from "standardwebhooks";
import { compactDecrypt, importPKCS8 } from "jose";
import { readFileSync } from "node:fs";

const [secret, keyPath] = process.argv.slice(2);
const request = JSON.parse(readFileSync(0, "utf8"));

const wh = new Webhook(secret);
const key = await importPKCS8(readFileSync(keyPath, "utf8"), "RSA-OAEP-256");

wh.verify(request.body, request.headers, { jsonParse: false }); // the body is a JWE, not JSON
const { plaintext, protectedHeader } = await compactDecrypt(request.body, key, {
  keyManagementAlgorithms: ["RSA-OAEP-256"],
  contentEncryptionAlgorithms: ["A256GCM"],
});
if (protectedHeader.cty !== "application/json" || !protectedHeader.kid) {
  throw new Error(`unexpected protected header ${JSON.stringify(protectedHeader)}`);
}
process.stdout.write(new TextDecoder().decode(plaintext));
