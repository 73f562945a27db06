"""The evidence application (存证, GB/T 43580-2023): 存证, 取证, 核验, 出证 on a deployed contract.

`records` (pure: record shapes, hashes, salting, keys), `service` (the contract through a node),
`certificate` (the certificate document and its offline verifier), `pdf` (the printed certificate) and
`package` (the evidence package for a court). docs/apps/evidence.md describes the whole flow.
"""
