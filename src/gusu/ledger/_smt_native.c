/* The state tree's per-block update (gusu.ledger.smt.apply_tree_updates) in C.
 *
 * A port of the Python implementation in gusu/ledger/smt.py, which stays the reference: the same walk over the
 * same stored format, giving byte-identical nodes, the same stale list and the same root. Python spends most
 * of a block's update on per-node bookkeeping and its garbage collector; here a node is a fixed-size struct in
 * an arena freed at the end of the call, and only the results become Python objects.
 *
 * Node reads go through the caller: a dict of cached encoded nodes (nibble path -> (version, bytes, size)) and
 * the store's `get` (store key -> bytes or None). Every byte read back is bounds-checked; anything malformed
 * raises gusu.errors.StorageError with the same message the Python implementation gives.
 *
 * Hashes: SM3 through OpenSSL 3's EVP (the EVP_MD fetched once), keccak-256 (the original Keccak padding, as
 * Ethereum uses, not SHA3-256) written here from the Keccak reference specification; the round constants and
 * rotation offsets are computed at import from the specification's definitions rather than tabulated.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <openssl/evp.h>
#include <openssl/err.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HASH_SIZE 32
#define SLOTS 16
#define NIBBLES 64
#define VERSION_BYTES 8
#define KEY_LENGTH_BYTES 4
#define LEAF_FIXED_BYTES (1 + 2 * HASH_SIZE + KEY_LENGTH_BYTES)

#define KIND_EMPTY 0
#define KIND_ONE_LEAF 1
#define KIND_SUBTREE 2

#define NODE_EMPTY 0
#define NODE_LEAF 1
#define NODE_INTERNAL 2

#define SUITE_SM3 0
#define SUITE_KECCAK256 1

static PyObject *storage_error;   /* gusu.errors.StorageError */
static PyObject *not_found_error; /* gusu.errors.NotFoundError */
static EVP_MD *sm3_md;

/* --- keccak-256 ---------------------------------------------------------------------------------------- */

static uint64_t keccak_round_constants[24];
static unsigned keccak_rotations[25];   /* by lane index x + 5y */
static unsigned keccak_destinations[25]; /* pi: where lane x + 5y goes, y + 5 * ((2x + 3y) mod 5) */

/* rc(t) of the specification: the output bit of the LFSR x^8 + x^6 + x^5 + x^4 + 1 after t mod 255 steps. */
static unsigned keccak_rc_bit(unsigned t) {
    unsigned r = 1;
    for (unsigned i = 0; i < t % 255; i++) {
        r <<= 1;
        if (r & 0x100) r ^= 0x171;
    }
    return r & 1;
}

static void keccak_init_constants(void) {
    for (unsigned round = 0; round < 24; round++) {
        uint64_t constant = 0;
        for (unsigned j = 0; j <= 6; j++)
            if (keccak_rc_bit(j + 7 * round)) constant |= (uint64_t)1 << ((1u << j) - 1);
        keccak_round_constants[round] = constant;
    }
    keccak_rotations[0] = 0;
    unsigned x = 1, y = 0;
    for (unsigned t = 0; t < 24; t++) {
        keccak_rotations[x + 5 * y] = ((t + 1) * (t + 2) / 2) % 64;
        unsigned next_y = (2 * x + 3 * y) % 5;
        x = y;
        y = next_y;
    }
    for (x = 0; x < 5; x++)
        for (y = 0; y < 5; y++) keccak_destinations[x + 5 * y] = y + 5 * ((2 * x + 3 * y) % 5);
}

static inline uint64_t rotate_left(uint64_t lane, unsigned count) {
    return (lane << count) | (lane >> ((64 - count) & 63));
}

static void keccak_f1600(uint64_t a[25]) {
    uint64_t b[25];
    for (unsigned round = 0; round < 24; round++) {
        /* theta */
        uint64_t c0 = a[0] ^ a[5] ^ a[10] ^ a[15] ^ a[20];
        uint64_t c1 = a[1] ^ a[6] ^ a[11] ^ a[16] ^ a[21];
        uint64_t c2 = a[2] ^ a[7] ^ a[12] ^ a[17] ^ a[22];
        uint64_t c3 = a[3] ^ a[8] ^ a[13] ^ a[18] ^ a[23];
        uint64_t c4 = a[4] ^ a[9] ^ a[14] ^ a[19] ^ a[24];
        uint64_t d0 = c4 ^ rotate_left(c1, 1), d1 = c0 ^ rotate_left(c2, 1), d2 = c1 ^ rotate_left(c3, 1);
        uint64_t d3 = c2 ^ rotate_left(c4, 1), d4 = c3 ^ rotate_left(c0, 1);
        for (unsigned y = 0; y < 25; y += 5) {
            a[y] ^= d0;
            a[y + 1] ^= d1;
            a[y + 2] ^= d2;
            a[y + 3] ^= d3;
            a[y + 4] ^= d4;
        }
        /* rho and pi */
        for (unsigned i = 0; i < 25; i++) b[keccak_destinations[i]] = rotate_left(a[i], keccak_rotations[i]);
        /* chi */
        for (unsigned y = 0; y < 25; y += 5) {
            uint64_t b0 = b[y], b1 = b[y + 1], b2 = b[y + 2], b3 = b[y + 3], b4 = b[y + 4];
            a[y] = b0 ^ (~b1 & b2);
            a[y + 1] = b1 ^ (~b2 & b3);
            a[y + 2] = b2 ^ (~b3 & b4);
            a[y + 3] = b3 ^ (~b4 & b0);
            a[y + 4] = b4 ^ (~b0 & b1);
        }
        /* iota */
        a[0] ^= keccak_round_constants[round];
    }
}

#define KECCAK256_RATE 136

typedef struct {
    uint64_t state[25];
    uint8_t block[KECCAK256_RATE];
    size_t used;
} Keccak;

static void keccak_absorb_block(Keccak *k) {
    for (unsigned i = 0; i < KECCAK256_RATE / 8; i++) {
        uint64_t lane;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(&lane, k->block + 8 * i, 8); /* lanes are little-endian */
#else
        lane = 0;
        for (unsigned j = 0; j < 8; j++) lane |= (uint64_t)k->block[8 * i + j] << (8 * j);
#endif
        k->state[i] ^= lane;
    }
    keccak_f1600(k->state);
    k->used = 0;
}

static void keccak_update(Keccak *k, const uint8_t *data, size_t length) {
    while (length) {
        size_t take = KECCAK256_RATE - k->used;
        if (take > length) take = length;
        memcpy(k->block + k->used, data, take);
        k->used += take;
        data += take;
        length -= take;
        if (k->used == KECCAK256_RATE) keccak_absorb_block(k);
    }
}

static void keccak_final(Keccak *k, uint8_t out[HASH_SIZE]) {
    /* pad10*1 with Keccak's (not SHA-3's) domain: a 1 bit, zeros, a final 1 bit */
    memset(k->block + k->used, 0, KECCAK256_RATE - k->used);
    k->block[k->used] ^= 0x01;
    k->block[KECCAK256_RATE - 1] ^= 0x80;
    keccak_absorb_block(k);
    for (unsigned i = 0; i < HASH_SIZE; i++) out[i] = (uint8_t)(k->state[i / 8] >> (8 * (i % 8)));
}

/* --- hashing of concatenated parts, by suite ----------------------------------------------------------- */

typedef struct {
    int suite;
    EVP_MD_CTX *evp;
} Hasher;

/* H(parts[0] || ... || parts[count - 1]); -1 with a Python error set when libcrypto fails. */
static int hash_parts(Hasher *hasher, const uint8_t *const *parts, const size_t *lengths, int count,
                      uint8_t out[HASH_SIZE]) {
    if (hasher->suite == SUITE_KECCAK256) {
        Keccak k;
        memset(&k, 0, sizeof k);
        for (int i = 0; i < count; i++) keccak_update(&k, parts[i], lengths[i]);
        keccak_final(&k, out);
        return 0;
    }
    unsigned int size = 0;
    if (EVP_DigestInit_ex(hasher->evp, sm3_md, NULL) != 1) goto failed;
    for (int i = 0; i < count; i++)
        if (EVP_DigestUpdate(hasher->evp, parts[i], lengths[i]) != 1) goto failed;
    if (EVP_DigestFinal_ex(hasher->evp, out, &size) != 1 || size != HASH_SIZE) goto failed;
    return 0;
failed:
    /* Leave this thread's libcrypto error queue empty: hashlib, ssl and cryptography, which share it, would
     * otherwise report our failure as theirs on their next call. */
    ERR_clear_error();
    PyErr_SetString(PyExc_RuntimeError, "SM3 in libcrypto failed");
    return -1;
}

/* --- arena: every node and leaf of one update, freed together ----------------------------------------- */

typedef struct Chunk {
    struct Chunk *next;
    size_t used, size;
    max_align_t data[];
} Chunk;

typedef struct {
    Chunk *head;
} Arena;

static void *arena_alloc(Arena *arena, size_t size) {
    size = (size + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    Chunk *chunk = arena->head;
    if (chunk == NULL || chunk->size - chunk->used < size) {
        size_t capacity = size > 65536 ? size : 65536;
        chunk = malloc(sizeof(Chunk) + capacity);
        if (chunk == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        chunk->next = arena->head;
        chunk->used = 0;
        chunk->size = capacity;
        arena->head = chunk;
    }
    void *result = (char *)chunk->data + chunk->used;
    chunk->used += size;
    return result;
}

static void arena_free(Arena *arena) {
    while (arena->head) {
        Chunk *next = arena->head->next;
        free(arena->head);
        arena->head = next;
    }
}

/* --- the tree's values --------------------------------------------------------------------------------- */

typedef struct {
    uint64_t version;
    uint8_t length;
    uint8_t nibbles[NIBBLES];
} NodeKey;

typedef struct {
    uint8_t key_hash[HASH_SIZE];
    uint8_t value_hash[HASH_SIZE];
    const uint8_t *key;
    Py_ssize_t key_length;
    const uint8_t *value;
    Py_ssize_t value_length;
    int is_stored;
    NodeKey stored; /* where the leaf is stored already (is_stored), else it is new */
    int has_hash;   /* `hash` computed already */
    uint8_t hash[HASH_SIZE];
} Leaf;

typedef struct {
    uint8_t hashes[2 * SLOTS][HASH_SIZE]; /* heap: [1] own hash, [2..15] inner, [16 + i] slot i */
    uint8_t kinds[2 * SLOTS];
    uint64_t versions[SLOTS];
    uint8_t leaf_keys[SLOTS][HASH_SIZE]; /* meaningful for leaf slots only */
} Internal;

typedef struct {
    uint8_t key_hash[HASH_SIZE];
    const uint8_t *key;
    Py_ssize_t key_length;
    const uint8_t *value; /* NULL: a delete */
    Py_ssize_t value_length;
} Update;

#define RESULT_UNCHANGED 0
#define RESULT_NONE 1
#define RESULT_LEAF 2
#define RESULT_INTERNAL 3

typedef struct {
    int kind;
    Leaf *leaf;
    Internal *node;
} Result;

typedef struct {
    Hasher hasher;
    const uint8_t *prefix[4]; /* key, value, leaf, internal */
    size_t prefix_length[4];
    PyObject *store_get;
    PyObject *cache_nodes; /* dict or NULL */
    uint64_t version;
    int internal_depth_max;
    PyObject *nodes;          /* store key -> encoded node */
    PyObject *internal_nodes; /* nibble path -> encoded internal node, for paths shorter than internal_depth_max */
    PyObject *loaded;         /* [(path, version, encoded)]: internal nodes read from the store, in order */
    PyObject *keep;           /* bytes objects whose buffers leaves point into */
    NodeKey *stale;
    size_t stale_count, stale_capacity;
    Arena arena;
} Context;

#define PREFIX_KEY 0
#define PREFIX_VALUE 1
#define PREFIX_LEAF 2
#define PREFIX_INTERNAL 3

static int hash_with_prefix(Context *context, int prefix, const uint8_t *a, size_t a_length, const uint8_t *b,
                            size_t b_length, uint8_t out[HASH_SIZE]) {
    const uint8_t *parts[3] = {context->prefix[prefix], a, b};
    size_t lengths[3] = {context->prefix_length[prefix], a_length, b_length};
    return hash_parts(&context->hasher, parts, lengths, b ? 3 : 2, out);
}

/* A leaf's hash, computed once per leaf (an updated key's is compared with the old one, then stored). */
static int compute_leaf_hash(Context *context, Leaf *leaf, uint8_t out[HASH_SIZE]) {
    if (!leaf->has_hash) {
        if (hash_with_prefix(context, PREFIX_LEAF, leaf->key_hash, HASH_SIZE, leaf->value_hash, HASH_SIZE,
                             leaf->hash) < 0)
            return -1;
        leaf->has_hash = 1;
    }
    memcpy(out, leaf->hash, HASH_SIZE);
    return 0;
}

/* --- node keys, paths and errors ---------------------------------------------------------------------- */

static PyObject *encode_node_key(uint64_t version, const uint8_t *nibbles, int length) {
    int packed = (length + 1) / 2;
    PyObject *result = PyBytes_FromStringAndSize(NULL, 1 + VERSION_BYTES + 1 + packed);
    if (result == NULL) return NULL;
    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(result);
    out[0] = 'j';
    for (int i = 0; i < VERSION_BYTES; i++) out[1 + i] = (uint8_t)(version >> (8 * (VERSION_BYTES - 1 - i)));
    out[1 + VERSION_BYTES] = (uint8_t)length;
    uint8_t *path = out + 2 + VERSION_BYTES;
    memset(path, 0, packed);
    for (int i = 0; i < length; i++) path[i / 2] |= (uint8_t)(i % 2 == 0 ? nibbles[i] << 4 : nibbles[i]);
    return result;
}

static PyObject *path_bytes(const uint8_t *nibbles, int length) {
    return PyBytes_FromStringAndSize((const char *)nibbles, length);
}

/* "version/hex of the nibble path", as the Python implementation names a node. */
static void format_node_name(char *out, size_t size, uint64_t version, const uint8_t *nibbles, int length) {
    static const char digits[] = "0123456789abcdef";
    int written = snprintf(out, size, "%llu/", (unsigned long long)version);
    if (written < 0) written = 0;
    size_t at = (size_t)written;
    for (int i = 0; i < length && at + 3 <= size; i++) {
        out[at++] = digits[nibbles[i] >> 4];
        out[at++] = digits[nibbles[i] & 15];
    }
    if (at < size) out[at] = '\0';
}

#define NAME_SIZE (32 + 2 * NIBBLES)

static void raise_damaged(uint64_t version, const uint8_t *nibbles, int length, const char *reason) {
    char name[NAME_SIZE];
    format_node_name(name, sizeof name, version, nibbles, length);
    PyErr_Format(storage_error, "tree node %s is damaged (%s); restore the data directory from a backup", name,
                 reason);
}

static void raise_node_error(uint64_t version, const uint8_t *nibbles, int length, const char *what) {
    char name[NAME_SIZE];
    format_node_name(name, sizeof name, version, nibbles, length);
    PyErr_Format(storage_error, "tree node %s %s", name, what);
}

static int add_stale(Context *context, uint64_t version, const uint8_t *nibbles, int length) {
    if (context->stale_count == context->stale_capacity) {
        size_t capacity = context->stale_capacity ? 2 * context->stale_capacity : 256;
        NodeKey *grown = realloc(context->stale, capacity * sizeof(NodeKey));
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        context->stale = grown;
        context->stale_capacity = capacity;
    }
    NodeKey *entry = &context->stale[context->stale_count++];
    entry->version = version;
    entry->length = (uint8_t)length;
    memcpy(entry->nibbles, nibbles, length);
    return 0;
}

/* --- encoding and decoding ------------------------------------------------------------------------------ */

static int combine_kinds(int left, int right) {
    if (right == KIND_EMPTY && left != KIND_SUBTREE) return left;
    if (left == KIND_EMPTY && right == KIND_ONE_LEAF) return KIND_ONE_LEAF;
    return KIND_SUBTREE;
}

static void put_version(uint8_t *out, uint64_t version) {
    for (int i = 0; i < VERSION_BYTES; i++) out[i] = (uint8_t)(version >> (8 * (VERSION_BYTES - 1 - i)));
}

static uint64_t get_version(const uint8_t *in) {
    uint64_t version = 0;
    for (int i = 0; i < VERSION_BYTES; i++) version = version << 8 | in[i];
    return version;
}

static PyObject *encode_leaf(const Leaf *leaf) {
    if ((uint64_t)leaf->key_length >> 32) {
        PyErr_SetString(PyExc_ValueError, "a state key of 4 GiB or more cannot be stored in the tree");
        return NULL;
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, LEAF_FIXED_BYTES + leaf->key_length + leaf->value_length);
    if (result == NULL) return NULL;
    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(result);
    out[0] = NODE_LEAF;
    memcpy(out + 1, leaf->key_hash, HASH_SIZE);
    memcpy(out + 1 + HASH_SIZE, leaf->value_hash, HASH_SIZE);
    uint32_t key_length = (uint32_t)leaf->key_length;
    out[1 + 2 * HASH_SIZE] = (uint8_t)(key_length >> 24);
    out[2 + 2 * HASH_SIZE] = (uint8_t)(key_length >> 16);
    out[3 + 2 * HASH_SIZE] = (uint8_t)(key_length >> 8);
    out[4 + 2 * HASH_SIZE] = (uint8_t)key_length;
    memcpy(out + LEAF_FIXED_BYTES, leaf->key, leaf->key_length);
    memcpy(out + LEAF_FIXED_BYTES + leaf->key_length, leaf->value, leaf->value_length);
    return result;
}

/* The heap's kinds from the slots' kinds (16..31 set), and the encoded size they imply. */
static Py_ssize_t complete_kinds(uint8_t kinds[2 * SLOTS]) {
    Py_ssize_t size = 5;
    for (int slot = 0; slot < SLOTS; slot++) {
        int kind = kinds[SLOTS + slot];
        if (kind != KIND_EMPTY) size += HASH_SIZE + VERSION_BYTES + (kind == KIND_ONE_LEAF ? HASH_SIZE : 0);
    }
    for (int position = SLOTS - 1; position >= 1; position--) {
        kinds[position] = (uint8_t)combine_kinds(kinds[2 * position], kinds[2 * position + 1]);
        if (kinds[position] == KIND_SUBTREE) size += HASH_SIZE;
    }
    kinds[0] = KIND_EMPTY;
    return size;
}

static PyObject *encode_internal(const Internal *node) {
    uint8_t kinds[2 * SLOTS];
    memcpy(kinds, node->kinds, sizeof kinds);
    Py_ssize_t size = complete_kinds(kinds);
    PyObject *result = PyBytes_FromStringAndSize(NULL, size);
    if (result == NULL) return NULL;
    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(result);
    unsigned present = 0, leaves = 0;
    for (int slot = 0; slot < SLOTS; slot++) {
        if (kinds[SLOTS + slot] != KIND_EMPTY) present |= 1u << slot;
        if (kinds[SLOTS + slot] == KIND_ONE_LEAF) leaves |= 1u << slot;
    }
    out[0] = NODE_INTERNAL;
    out[1] = (uint8_t)(present >> 8);
    out[2] = (uint8_t)present;
    out[3] = (uint8_t)(leaves >> 8);
    out[4] = (uint8_t)leaves;
    uint8_t *at = out + 5;
    for (int slot = 0; slot < SLOTS; slot++) {
        int kind = kinds[SLOTS + slot];
        if (kind == KIND_EMPTY) continue;
        memcpy(at, node->hashes[SLOTS + slot], HASH_SIZE);
        put_version(at + HASH_SIZE, node->versions[slot]);
        at += HASH_SIZE + VERSION_BYTES;
        if (kind == KIND_ONE_LEAF) {
            memcpy(at, node->leaf_keys[slot], HASH_SIZE);
            at += HASH_SIZE;
        }
    }
    for (int position = 1; position < SLOTS; position++) {
        if (kinds[position] != KIND_SUBTREE) continue;
        memcpy(at, node->hashes[position], HASH_SIZE);
        at += HASH_SIZE;
    }
    return result;
}

/* Big-endian value of raw[start:start + 2] as Python slices it (fewer bytes when raw is shorter). */
static unsigned slice_uint16(const uint8_t *raw, Py_ssize_t length, Py_ssize_t start) {
    unsigned value = 0;
    for (Py_ssize_t i = start; i < start + 2 && i < length; i++) value = value << 8 | raw[i];
    return value;
}

/* Decode an internal node; 0, or -1 with `reason` set to what is wrong. */
static int decode_internal(const uint8_t *raw, Py_ssize_t length, Internal *node, char *reason, size_t reason_size) {
    unsigned present = slice_uint16(raw, length, 1);
    unsigned leaves = slice_uint16(raw, length, 3);
    if (leaves & ~present) {
        snprintf(reason, reason_size, "a leaf flag is set for an empty slot");
        return -1;
    }
    for (int slot = 0; slot < SLOTS; slot++)
        node->kinds[SLOTS + slot] =
            (uint8_t)(!(present >> slot & 1) ? KIND_EMPTY : (leaves >> slot & 1) ? KIND_ONE_LEAF : KIND_SUBTREE);
    Py_ssize_t size = complete_kinds(node->kinds);
    if (node->kinds[1] != KIND_SUBTREE) {
        snprintf(reason, reason_size, "an internal node holds at least two leaves or an internal child");
        return -1;
    }
    if (length != size) {
        snprintf(reason, reason_size, "an internal node of %zd bytes does not match its bitmaps (%zd bytes)", length,
                 size);
        return -1;
    }
    const uint8_t *at = raw + 5;
    for (int slot = 0; slot < SLOTS; slot++) {
        int kind = node->kinds[SLOTS + slot];
        if (kind == KIND_EMPTY) {
            memset(node->hashes[SLOTS + slot], 0, HASH_SIZE);
            node->versions[slot] = 0;
            continue;
        }
        memcpy(node->hashes[SLOTS + slot], at, HASH_SIZE);
        node->versions[slot] = get_version(at + HASH_SIZE);
        at += HASH_SIZE + VERSION_BYTES;
        if (kind == KIND_ONE_LEAF) {
            memcpy(node->leaf_keys[slot], at, HASH_SIZE);
            at += HASH_SIZE;
        }
    }
    for (int position = 1; position < SLOTS; position++) {
        if (node->kinds[position] != KIND_SUBTREE) continue;
        memcpy(node->hashes[position], at, HASH_SIZE);
        at += HASH_SIZE;
    }
    /* A subtree with one leaf is that leaf's hash; an empty one the placeholder (bottom up). */
    for (int position = SLOTS - 1; position >= 1; position--) {
        int kind = node->kinds[position];
        if (kind == KIND_SUBTREE) continue;
        if (kind == KIND_EMPTY) {
            memset(node->hashes[position], 0, HASH_SIZE);
        } else {
            int left = 2 * position;
            memcpy(node->hashes[position], node->hashes[node->kinds[left] != KIND_EMPTY ? left : left + 1],
                   HASH_SIZE);
        }
    }
    memset(node->hashes[0], 0, HASH_SIZE);
    return 0;
}

/* Decode any node read back from the store: returns its NODE_ kind, filling `leaf` or `node`; -1 with a
 * StorageError set when the bytes are not a node. A leaf points into `raw`, which the caller keeps alive. */
static int decode_node(PyObject *raw_object, const uint8_t *nibbles, int path_length, uint64_t version, Leaf *leaf,
                       Internal *node) {
    const uint8_t *raw = (const uint8_t *)PyBytes_AS_STRING(raw_object);
    Py_ssize_t length = PyBytes_GET_SIZE(raw_object);
    char reason[160];
    if (length >= 1 && raw[0] == NODE_INTERNAL) {
        if (decode_internal(raw, length, node, reason, sizeof reason) < 0) goto damaged;
        return NODE_INTERNAL;
    }
    if (length >= LEAF_FIXED_BYTES && raw[0] == NODE_LEAF) {
        uint64_t key_length = (uint64_t)raw[1 + 2 * HASH_SIZE] << 24 | (uint64_t)raw[2 + 2 * HASH_SIZE] << 16 |
                              (uint64_t)raw[3 + 2 * HASH_SIZE] << 8 | (uint64_t)raw[4 + 2 * HASH_SIZE];
        if ((uint64_t)length < LEAF_FIXED_BYTES + key_length) {
            snprintf(reason, sizeof reason, "a leaf's key runs past its end");
            goto damaged;
        }
        memcpy(leaf->key_hash, raw + 1, HASH_SIZE);
        memcpy(leaf->value_hash, raw + 1 + HASH_SIZE, HASH_SIZE);
        leaf->key = raw + LEAF_FIXED_BYTES;
        leaf->key_length = (Py_ssize_t)key_length;
        leaf->value = raw + LEAF_FIXED_BYTES + key_length;
        leaf->value_length = length - LEAF_FIXED_BYTES - (Py_ssize_t)key_length;
        leaf->is_stored = 1;
        leaf->has_hash = 0;
        leaf->stored.version = version;
        leaf->stored.length = (uint8_t)path_length;
        memcpy(leaf->stored.nibbles, nibbles, path_length);
        return NODE_LEAF;
    }
    if (length == 1 && raw[0] == NODE_EMPTY) return NODE_EMPTY;
    if (length == 0)
        snprintf(reason, sizeof reason, "unknown tree node kind nothing");
    else
        snprintf(reason, sizeof reason, "unknown tree node kind %02x", raw[0]);
damaged:
    raise_damaged(version, nibbles, path_length, reason);
    return -1;
}

/* --- reading nodes ------------------------------------------------------------------------------------- */

/* The stored bytes of a node (a new reference, also held in context->keep), or NULL: an error is set, or
 * (*missing set) the store has no such node. */
static PyObject *read_stored(Context *context, uint64_t version, const uint8_t *nibbles, int length, int *missing) {
    *missing = 0;
    PyObject *key = encode_node_key(version, nibbles, length);
    if (key == NULL) return NULL;
    PyObject *raw = PyObject_CallOneArg(context->store_get, key);
    Py_DECREF(key);
    if (raw == NULL) return NULL;
    if (raw == Py_None) {
        Py_DECREF(raw);
        *missing = 1;
        return NULL;
    }
    if (!PyBytes_Check(raw)) {
        PyObject *converted = PyBytes_FromObject(raw);
        Py_DECREF(raw);
        if (converted == NULL) return NULL;
        raw = converted;
    }
    if (PyList_Append(context->keep, raw) < 0) {
        Py_DECREF(raw);
        return NULL;
    }
    return raw;
}

/* Any node below the root; a missing one is a damaged store. */
static int load_node(Context *context, uint64_t version, const uint8_t *nibbles, int length, Leaf *leaf,
                     Internal *node, PyObject **raw_out) {
    int missing;
    PyObject *raw = read_stored(context, version, nibbles, length, &missing);
    if (raw == NULL) {
        if (missing)
            raise_node_error(version, nibbles, length,
                             "is missing: the store is damaged or that version was pruned");
        return -1;
    }
    int kind = decode_node(raw, nibbles, length, version, leaf, node);
    if (raw_out) *raw_out = raw;
    Py_DECREF(raw); /* context->keep holds it */
    return kind;
}

static int nibble_of(const uint8_t key_hash[HASH_SIZE], int depth);

static Leaf *load_leaf(Context *context, const NodeKey *stored) {
    Leaf *leaf = arena_alloc(&context->arena, sizeof(Leaf));
    Internal *scratch = arena_alloc(&context->arena, sizeof(Internal));
    if (leaf == NULL || scratch == NULL) return NULL;
    int kind = load_node(context, stored->version, stored->nibbles, stored->length, leaf, scratch, NULL);
    if (kind < 0) return NULL;
    if (kind != NODE_LEAF) {
        raise_node_error(stored->version, stored->nibbles, stored->length, "is not the leaf its parent says it is");
        return NULL;
    }
    /* A leaf whose key hash left its path (a damaged byte) would be grouped under the wrong slot and silently
     * overwrite another leaf there: refuse it, as the Python update does. */
    for (int index = 0; index < stored->length; index++) {
        if (nibble_of(leaf->key_hash, index) != stored->nibbles[index]) {
            raise_node_error(stored->version, stored->nibbles, stored->length, "holds a key hash outside its path");
            return NULL;
        }
    }
    return leaf;
}

/* The cached encoding of the node at `nibbles` if the cache holds it at `version` (borrowed), else NULL (and
 * no error, unless one is set). */
static PyObject *get_cached(Context *context, uint64_t version, const uint8_t *nibbles, int length) {
    if (context->cache_nodes == NULL) return NULL;
    PyObject *path = path_bytes(nibbles, length);
    if (path == NULL) return NULL;
    PyObject *entry = PyDict_GetItemWithError(context->cache_nodes, path);
    Py_DECREF(path);
    if (entry == NULL || !PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) < 2) return NULL;
    PyObject *cached_version = PyTuple_GET_ITEM(entry, 0);
    PyObject *raw = PyTuple_GET_ITEM(entry, 1);
    if (!PyLong_Check(cached_version) || !PyBytes_Check(raw)) return NULL;
    if (PyList_Append(context->keep, raw) < 0) return NULL; /* what is decoded from it must outlive the entry */
    unsigned long long value = PyLong_AsUnsignedLongLong(cached_version);
    if (value == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        return NULL;
    }
    return value == version ? raw : NULL;
}

static Internal *load_internal(Context *context, uint64_t version, const uint8_t *nibbles, int length) {
    Internal *node = arena_alloc(&context->arena, sizeof(Internal));
    if (node == NULL) return NULL;
    PyObject *cached = get_cached(context, version, nibbles, length);
    if (cached == NULL && PyErr_Occurred()) return NULL;
    if (cached != NULL) {
        Leaf unused;
        int kind = decode_node(cached, nibbles, length, version, &unused, node);
        if (kind < 0) return NULL;
        if (kind == NODE_INTERNAL) return node;
        raise_node_error(version, nibbles, length, "is not the internal node its parent says it is");
        return NULL;
    }
    Leaf unused;
    PyObject *raw = NULL;
    int kind = load_node(context, version, nibbles, length, &unused, node, &raw);
    if (kind < 0) return NULL;
    if (kind != NODE_INTERNAL) {
        raise_node_error(version, nibbles, length, "is not the internal node its parent says it is");
        return NULL;
    }
    PyObject *path = path_bytes(nibbles, length);
    if (path == NULL) return NULL;
    PyObject *entry = Py_BuildValue("(NKO)", path, (unsigned long long)version, raw);
    if (entry == NULL) return NULL;
    int failed = PyList_Append(context->loaded, entry);
    Py_DECREF(entry);
    return failed ? NULL : node;
}

/* --- the update ---------------------------------------------------------------------------------------- */

static void new_internal(Internal *node) {
    memset(node, 0, sizeof *node);
}

static int nibble_of(const uint8_t key_hash[HASH_SIZE], int depth) {
    uint8_t byte = key_hash[depth >> 1];
    return depth & 1 ? byte & 0x0F : byte >> 4;
}

/* Recompute the heap positions above the changed slots (a bitmask), bottom up. */
static int rehash(Context *context, Internal *node, unsigned changed_slots) {
    uint32_t positions = 0;
    for (int slot = 0; slot < SLOTS; slot++) {
        if (!(changed_slots >> slot & 1)) continue;
        for (int position = (SLOTS + slot) >> 1; position; position >>= 1) positions |= (uint32_t)1 << position;
    }
    for (int position = SLOTS - 1; position >= 1; position--) {
        if (!(positions >> position & 1)) continue;
        int left = position << 1;
        int left_kind = node->kinds[left], right_kind = node->kinds[left + 1];
        if (right_kind == KIND_EMPTY && left_kind != KIND_SUBTREE) {
            memcpy(node->hashes[position], node->hashes[left], HASH_SIZE);
            node->kinds[position] = (uint8_t)left_kind;
        } else if (left_kind == KIND_EMPTY && right_kind == KIND_ONE_LEAF) {
            memcpy(node->hashes[position], node->hashes[left + 1], HASH_SIZE);
            node->kinds[position] = KIND_ONE_LEAF;
        } else {
            if (hash_with_prefix(context, PREFIX_INTERNAL, node->hashes[left], HASH_SIZE, node->hashes[left + 1],
                                 HASH_SIZE, node->hashes[position]) < 0)
                return -1;
            node->kinds[position] = KIND_SUBTREE;
        }
    }
    return 0;
}

static int put_node(Context *context, uint64_t version, const uint8_t *nibbles, int length, PyObject *encoded) {
    PyObject *key = encode_node_key(version, nibbles, length);
    if (key == NULL) return -1;
    int failed = PyDict_SetItem(context->nodes, key, encoded);
    Py_DECREF(key);
    return failed;
}

static int write_internal(Context *context, const uint8_t *nibbles, int length, const Internal *node) {
    PyObject *encoded = encode_internal(node);
    if (encoded == NULL) return -1;
    int failed = put_node(context, context->version, nibbles, length, encoded);
    if (!failed && length < context->internal_depth_max) {
        PyObject *path = path_bytes(nibbles, length);
        failed = path == NULL || PyDict_SetItem(context->internal_nodes, path, encoded) < 0;
        Py_XDECREF(path);
    }
    Py_DECREF(encoded);
    return failed ? -1 : 0;
}

/* Put `child` in `slot` of `node` (at path `nibbles`), storing the child there unless it already is. */
static int set_slot(Context *context, Internal *node, uint8_t *nibbles, int length, int slot, Result child) {
    int position = SLOTS + slot;
    if (child.kind == RESULT_NONE) {
        memset(node->hashes[position], 0, HASH_SIZE);
        node->kinds[position] = KIND_EMPTY;
        node->versions[slot] = 0;
        return 0;
    }
    nibbles[length] = (uint8_t)slot;
    int child_length = length + 1;
    if (child.kind == RESULT_LEAF) {
        Leaf *leaf = child.leaf;
        uint64_t version;
        if (leaf->is_stored && leaf->stored.length == child_length &&
            memcmp(leaf->stored.nibbles, nibbles, child_length) == 0) {
            version = leaf->stored.version;
        } else {
            if (leaf->is_stored &&
                add_stale(context, leaf->stored.version, leaf->stored.nibbles, leaf->stored.length) < 0)
                return -1;
            version = context->version;
            PyObject *encoded = encode_leaf(leaf);
            if (encoded == NULL) return -1;
            int failed = put_node(context, version, nibbles, child_length, encoded);
            Py_DECREF(encoded);
            if (failed) return -1;
        }
        if (compute_leaf_hash(context, leaf, node->hashes[position]) < 0) return -1;
        node->kinds[position] = KIND_ONE_LEAF;
        node->versions[slot] = version;
        memcpy(node->leaf_keys[slot], leaf->key_hash, HASH_SIZE);
        return 0;
    }
    if (write_internal(context, nibbles, child_length, child.node) < 0) return -1;
    memcpy(node->hashes[position], child.node->hashes[1], HASH_SIZE);
    node->kinds[position] = KIND_SUBTREE;
    node->versions[slot] = context->version;
    return 0;
}

static const Result UNCHANGED = {RESULT_UNCHANGED, NULL, NULL};
static const Result FAILED = {-1, NULL, NULL};
static const Result NONE = {RESULT_NONE, NULL, NULL};

static Result leaf_result(Leaf *leaf) {
    Result result = {RESULT_LEAF, leaf, NULL};
    return result;
}

static Result internal_result(Internal *node) {
    Result result = {RESULT_INTERNAL, NULL, node};
    return result;
}

/* Only a damaged store (two leaves with one key hash, or internal nodes nested too deep) leads below 64. */
static Result too_deep(const uint8_t *nibbles, int length) {
    char name[NAME_SIZE];
    format_node_name(name, sizeof name, 0, nibbles, length);
    PyErr_Format(storage_error,
                 "the state tree goes deeper than a 256-bit key hash allows at nibble path %s: the store is damaged; "
                 "restore the data directory from a backup",
                 strchr(name, '/') + 1);
    return FAILED;
}

/* The subtree at `nibbles` holding exactly `leaves` (sorted by key hash), its nodes below the path stored. */
static Result build(Context *context, uint8_t *nibbles, int length, Leaf **leaves, size_t count) {
    if (count == 0) return NONE;
    if (count == 1) return leaf_result(leaves[0]);
    if (length >= NIBBLES) return too_deep(nibbles, length); /* only from a damaged store */
    Internal *node = arena_alloc(&context->arena, sizeof(Internal));
    if (node == NULL) return FAILED;
    new_internal(node);
    unsigned changed = 0;
    size_t start = 0;
    while (start < count) {
        int slot = nibble_of(leaves[start]->key_hash, length);
        size_t end = start + 1;
        while (end < count && nibble_of(leaves[end]->key_hash, length) == slot) end++;
        nibbles[length] = (uint8_t)slot;
        Result child = build(context, nibbles, length + 1, leaves + start, end - start);
        if (child.kind < 0) return FAILED;
        if (set_slot(context, node, nibbles, length, slot, child) < 0) return FAILED;
        changed |= 1u << slot;
        start = end;
    }
    if (rehash(context, node, changed) < 0) return FAILED;
    return internal_result(node);
}

/* The leaves the non-delete updates create (stored nowhere yet), into `out`; their count, or -1. */
static Py_ssize_t new_leaves(Context *context, const Update *updates, size_t count, Leaf **out) {
    Py_ssize_t made = 0;
    for (size_t i = 0; i < count; i++) {
        const Update *update = &updates[i];
        if (update->value == NULL) continue;
        Leaf *leaf = arena_alloc(&context->arena, sizeof(Leaf));
        if (leaf == NULL) return -1;
        memcpy(leaf->key_hash, update->key_hash, HASH_SIZE);
        if (hash_with_prefix(context, PREFIX_VALUE, update->value, (size_t)update->value_length, NULL, 0,
                             leaf->value_hash) < 0)
            return -1;
        leaf->key = update->key;
        leaf->key_length = update->key_length;
        leaf->value = update->value;
        leaf->value_length = update->value_length;
        leaf->is_stored = 0;
        leaf->has_hash = 0;
        out[made++] = leaf;
    }
    return made;
}

static Leaf **alloc_leaf_list(Context *context, size_t count) {
    return arena_alloc(&context->arena, (count ? count : 1) * sizeof(Leaf *));
}

static Result build_new(Context *context, uint8_t *nibbles, int length, const Update *updates, size_t count,
                        int unchanged_if_empty) {
    Leaf **leaves = alloc_leaf_list(context, count);
    if (leaves == NULL) return FAILED;
    Py_ssize_t made = new_leaves(context, updates, count, leaves);
    if (made < 0) return FAILED;
    if (made == 0 && unchanged_if_empty) return UNCHANGED;
    return build(context, nibbles, length, leaves, (size_t)made);
}

static Result update_leaf_keyed(Context *context, uint8_t *nibbles, int length, const NodeKey *stored,
                                const uint8_t *leaf_hash, const uint8_t *leaf_key, Leaf *leaf, const Update *updates,
                                size_t count) {
    Leaf **leaves = alloc_leaf_list(context, count + 1);
    if (leaves == NULL) return FAILED;
    int replaced = 0;
    for (size_t i = 0; i < count; i++)
        if (leaf_key != NULL && memcmp(updates[i].key_hash, leaf_key, HASH_SIZE) == 0) replaced = 1;
    Py_ssize_t made = new_leaves(context, updates, count, leaves);
    if (made < 0) return FAILED;
    if (!replaced) {
        if (made == 0) return UNCHANGED; /* deletes of absent keys */
        if (leaf == NULL) {
            leaf = load_leaf(context, stored);
            if (leaf == NULL) return FAILED;
        }
        /* insert the old leaf in key-hash order (the new ones are sorted already) */
        Py_ssize_t at = made;
        while (at > 0 && memcmp(leaves[at - 1]->key_hash, leaf->key_hash, HASH_SIZE) > 0) {
            leaves[at] = leaves[at - 1];
            at--;
        }
        leaves[at] = leaf;
        made++;
    } else {
        if (made == 1) {
            uint8_t hash[HASH_SIZE];
            if (compute_leaf_hash(context, leaves[0], hash) < 0) return FAILED;
            if (memcmp(hash, leaf_hash, HASH_SIZE) == 0) return UNCHANGED; /* rewritten with the value it has */
        }
        if (add_stale(context, stored->version, stored->nibbles, stored->length) < 0) return FAILED;
    }
    return build(context, nibbles, length, leaves, (size_t)made);
}

static Result update_internal(Context *context, uint8_t *nibbles, int length, uint64_t version, Internal *node,
                              const Update *updates, size_t count) {
    if (length >= NIBBLES) return too_deep(nibbles, length); /* only from a damaged store */
    Result results[SLOTS];
    unsigned changed = 0;
    size_t start = 0;
    while (start < count) {
        int slot = nibble_of(updates[start].key_hash, length);
        size_t end = start + 1;
        while (end < count && nibble_of(updates[end].key_hash, length) == slot) end++;
        const Update *group = updates + start;
        size_t group_count = end - start;
        start = end;
        int kind = node->kinds[SLOTS + slot];
        Result result;
        nibbles[length] = (uint8_t)slot;
        if (kind == KIND_EMPTY) {
            result = build_new(context, nibbles, length + 1, group, group_count, 1);
        } else if (kind == KIND_ONE_LEAF) {
            NodeKey stored;
            stored.version = node->versions[slot];
            stored.length = (uint8_t)(length + 1);
            memcpy(stored.nibbles, nibbles, length + 1);
            result = update_leaf_keyed(context, nibbles, length + 1, &stored, node->hashes[SLOTS + slot],
                                       node->leaf_keys[slot], NULL, group, group_count);
        } else {
            uint64_t child_version = node->versions[slot];
            Internal *child = load_internal(context, child_version, nibbles, length + 1);
            if (child == NULL) return FAILED;
            result = update_internal(context, nibbles, length + 1, child_version, child, group, group_count);
        }
        if (result.kind < 0) return FAILED;
        if (result.kind != RESULT_UNCHANGED) {
            results[slot] = result;
            changed |= 1u << slot;
        }
    }
    if (!changed) return UNCHANGED;
    if (add_stale(context, version, nibbles, length) < 0) return FAILED;
    int occupied = 0;
    for (int slot = 0; slot < SLOTS; slot++) {
        int was = node->kinds[SLOTS + slot] != KIND_EMPTY;
        int is = changed >> slot & 1 ? results[slot].kind != RESULT_NONE : was;
        occupied += is;
    }
    if (occupied == 0) return NONE;
    if (occupied == 1) {
        /* One entry left below this node: if it is a leaf, it moves up to the parent's slot (collapse). */
        for (int slot = 0; slot < SLOTS; slot++) {
            if (node->kinds[SLOTS + slot] != KIND_EMPTY && !(changed >> slot & 1)) {
                if (node->kinds[SLOTS + slot] != KIND_ONE_LEAF) break;
                NodeKey stored;
                stored.version = node->versions[slot];
                stored.length = (uint8_t)(length + 1);
                memcpy(stored.nibbles, nibbles, length);
                stored.nibbles[length] = (uint8_t)slot;
                Leaf *leaf = load_leaf(context, &stored);
                return leaf == NULL ? FAILED : leaf_result(leaf);
            }
            if (changed >> slot & 1 && results[slot].kind != RESULT_NONE) {
                if (results[slot].kind == RESULT_LEAF) return results[slot];
                break;
            }
        }
    }
    Internal *updated = arena_alloc(&context->arena, sizeof(Internal));
    if (updated == NULL) return FAILED;
    memcpy(updated, node, sizeof *updated);
    for (int slot = 0; slot < SLOTS; slot++) {
        if (!(changed >> slot & 1)) continue;
        if (set_slot(context, updated, nibbles, length, slot, results[slot]) < 0) return FAILED;
    }
    if (rehash(context, updated, changed) < 0) return FAILED;
    return internal_result(updated);
}

/* --- the entry point ----------------------------------------------------------------------------------- */

static int compare_updates(const void *a, const void *b) {
    return memcmp(((const Update *)a)->key_hash, ((const Update *)b)->key_hash, HASH_SIZE);
}

/* As Python orders (version, path) tuples. */
static int compare_node_keys(const void *a, const void *b) {
    const NodeKey *x = a, *y = b;
    if (x->version != y->version) return x->version < y->version ? -1 : 1;
    int shorter = x->length < y->length ? x->length : y->length;
    int order = memcmp(x->nibbles, y->nibbles, shorter);
    if (order) return order;
    return (int)x->length - (int)y->length;
}

static PyObject *build_stale(Context *context) {
    if (context->stale_count) qsort(context->stale, context->stale_count, sizeof(NodeKey), compare_node_keys);
    PyObject *list = PyList_New(0);
    if (list == NULL) return NULL;
    for (size_t i = 0; i < context->stale_count; i++) {
        const NodeKey *entry = &context->stale[i];
        if (i && compare_node_keys(entry, &context->stale[i - 1]) == 0) continue; /* a set in Python */
        PyObject *item = Py_BuildValue("(Ky#)", (unsigned long long)entry->version, (const char *)entry->nibbles,
                                       (Py_ssize_t)entry->length);
        if (item == NULL || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(item);
    }
    PyObject *tuple = PyList_AsTuple(list);
    Py_DECREF(list);
    return tuple;
}

static int get_version_argument(PyObject *object, uint64_t *out) {
    unsigned long long value = PyLong_AsUnsignedLongLong(object);
    if (value == (unsigned long long)-1 && PyErr_Occurred()) return -1;
    *out = value;
    return 0;
}

static int run(Context *context, int has_parent, uint64_t parent_version, PyObject *items, PyObject **root_out) {
    Py_ssize_t count = PyList_GET_SIZE(items);
    Update *updates = arena_alloc(&context->arena, (count ? count : 1) * sizeof(Update));
    if (updates == NULL) return -1;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
            PyErr_SetString(PyExc_TypeError, "writes must map bytes to bytes or None");
            return -1;
        }
        PyObject *key = PyTuple_GET_ITEM(item, 0), *value = PyTuple_GET_ITEM(item, 1);
        if (!PyBytes_Check(key) || (value != Py_None && !PyBytes_Check(value))) {
            PyErr_SetString(PyExc_TypeError, "writes must map bytes to bytes or None");
            return -1;
        }
        Update *update = &updates[i];
        update->key = (const uint8_t *)PyBytes_AS_STRING(key);
        update->key_length = PyBytes_GET_SIZE(key);
        update->value = value == Py_None ? NULL : (const uint8_t *)PyBytes_AS_STRING(value);
        update->value_length = value == Py_None ? 0 : PyBytes_GET_SIZE(value);
        if (hash_with_prefix(context, PREFIX_KEY, update->key, (size_t)update->key_length, NULL, 0,
                             update->key_hash) < 0)
            return -1;
    }
    if (count > 1) qsort(updates, count, sizeof(Update), compare_updates);

    uint8_t nibbles[NIBBLES + 1];
    Result root;
    Leaf *old_leaf = NULL;
    Internal *old_node = NULL;
    int old_kind = NODE_EMPTY;
    if (!has_parent) {
        root = build_new(context, nibbles, 0, updates, count, 0);
    } else {
        PyObject *cached = get_cached(context, parent_version, nibbles, 0);
        if (cached == NULL && PyErr_Occurred()) return -1;
        old_leaf = arena_alloc(&context->arena, sizeof(Leaf));
        old_node = arena_alloc(&context->arena, sizeof(Internal));
        if (old_leaf == NULL || old_node == NULL) return -1;
        if (cached != NULL) {
            old_kind = decode_node(cached, nibbles, 0, parent_version, old_leaf, old_node);
        } else {
            int missing;
            PyObject *raw = read_stored(context, parent_version, nibbles, 0, &missing);
            if (raw == NULL) {
                if (missing)
                    PyErr_Format(not_found_error,
                                 "the state tree has no version %llu: it was never written, or it was pruned",
                                 (unsigned long long)parent_version);
                return -1;
            }
            old_kind = decode_node(raw, nibbles, 0, parent_version, old_leaf, old_node);
            Py_DECREF(raw);
        }
        if (old_kind < 0) return -1;
        Result result;
        if (old_kind == NODE_EMPTY) {
            result = build_new(context, nibbles, 0, updates, count, 1);
        } else if (old_kind == NODE_LEAF) {
            uint8_t leaf_hash[HASH_SIZE];
            if (compute_leaf_hash(context, old_leaf, leaf_hash) < 0) return -1;
            NodeKey stored = {parent_version, 0, {0}};
            result = update_leaf_keyed(context, nibbles, 0, &stored, leaf_hash, old_leaf->key_hash, old_leaf,
                                       updates, count);
        } else {
            result = update_internal(context, nibbles, 0, parent_version, old_node, updates, count);
        }
        if (result.kind < 0) return -1;
        if (result.kind == RESULT_UNCHANGED) {
            root.kind = old_kind == NODE_EMPTY ? RESULT_NONE : old_kind == NODE_LEAF ? RESULT_LEAF : RESULT_INTERNAL;
            root.leaf = old_leaf;
            root.node = old_node;
        } else {
            root = result;
        }
        if (add_stale(context, parent_version, nibbles, 0) < 0) return -1;
        /* A leaf that moved up to the root from deeper down leaves its old place. */
        if (root.kind == RESULT_LEAF && root.leaf->is_stored &&
            add_stale(context, root.leaf->stored.version, root.leaf->stored.nibbles, root.leaf->stored.length) < 0)
            return -1;
    }
    if (root.kind < 0) return -1;
    /* Every version has its own root node, even when nothing changed, so any version can be read. */
    uint8_t root_hash[HASH_SIZE];
    PyObject *encoded;
    if (root.kind == RESULT_NONE) {
        encoded = PyBytes_FromStringAndSize("\x00", 1);
        memset(root_hash, 0, HASH_SIZE);
    } else if (root.kind == RESULT_LEAF) {
        encoded = encode_leaf(root.leaf);
        if (encoded && compute_leaf_hash(context, root.leaf, root_hash) < 0) Py_CLEAR(encoded);
    } else {
        encoded = encode_internal(root.node);
        memcpy(root_hash, root.node->hashes[1], HASH_SIZE);
    }
    if (encoded == NULL) return -1;
    int failed = put_node(context, context->version, nibbles, 0, encoded);
    if (!failed && root.kind == RESULT_INTERNAL && context->internal_depth_max > 0) {
        PyObject *path = path_bytes(nibbles, 0);
        failed = path == NULL || PyDict_SetItem(context->internal_nodes, path, encoded) < 0;
        Py_XDECREF(path);
    }
    Py_DECREF(encoded);
    if (failed) return -1;
    *root_out = PyBytes_FromStringAndSize((const char *)root_hash, HASH_SIZE);
    return *root_out == NULL ? -1 : 0;
}

PyDoc_STRVAR(apply_updates_doc,
             "apply_updates(suite, prefixes, store_get, cache_nodes, version, parent_version, writes, "
             "internal_depth_max)\n--\n\n"
             "One version of the state tree, as gusu.ledger.smt computes it: returns (root, nodes, stale, "
             "internal_nodes, loaded).\n\n"
             "suite: 0 SM3, 1 keccak-256; prefixes: the key, value, leaf and internal hash prefixes; store_get: "
             "store key -> bytes or None; cache_nodes: nibble path -> (version, encoded node, size), or None; "
             "parent_version: None for the empty tree; writes: a mapping of bytes to bytes or None. "
             "internal_nodes maps the nibble paths shorter than internal_depth_max to this version's encoded "
             "internal nodes; loaded lists (path, version, encoded) of the internal nodes read from the store.");

static PyObject *apply_updates(PyObject *module, PyObject *args) {
    (void)module;
    int suite, internal_depth_max;
    PyObject *prefixes, *store_get, *cache_nodes, *version_object, *parent_object, *writes;
    if (!PyArg_ParseTuple(args, "iO!OOOOOi:apply_updates", &suite, &PyTuple_Type, &prefixes, &store_get, &cache_nodes,
                          &version_object, &parent_object, &writes, &internal_depth_max))
        return NULL;
    if (suite != SUITE_SM3 && suite != SUITE_KECCAK256) {
        PyErr_SetString(PyExc_ValueError, "unknown hash suite");
        return NULL;
    }
    if (PyTuple_GET_SIZE(prefixes) != 4) {
        PyErr_SetString(PyExc_ValueError, "four hash prefixes are expected");
        return NULL;
    }
    if (cache_nodes != Py_None && !PyDict_Check(cache_nodes)) {
        PyErr_SetString(PyExc_TypeError, "cache_nodes must be a dict or None");
        return NULL;
    }
    Context context;
    memset(&context, 0, sizeof context);
    context.hasher.suite = suite;
    for (int i = 0; i < 4; i++) {
        PyObject *prefix = PyTuple_GET_ITEM(prefixes, i);
        if (!PyBytes_Check(prefix)) {
            PyErr_SetString(PyExc_TypeError, "hash prefixes must be bytes");
            return NULL;
        }
        context.prefix[i] = (const uint8_t *)PyBytes_AS_STRING(prefix);
        context.prefix_length[i] = (size_t)PyBytes_GET_SIZE(prefix);
    }
    uint64_t parent_version = 0;
    int has_parent = parent_object != Py_None;
    if (get_version_argument(version_object, &context.version) < 0) return NULL;
    if (has_parent && get_version_argument(parent_object, &parent_version) < 0) return NULL;
    context.store_get = store_get;
    context.cache_nodes = cache_nodes == Py_None ? NULL : cache_nodes;
    context.internal_depth_max = internal_depth_max;

    PyObject *items = PyMapping_Items(writes);
    if (items == NULL) return NULL;
    PyObject *root = NULL, *stale = NULL, *result = NULL;
    context.nodes = PyDict_New();
    context.internal_nodes = PyDict_New();
    context.loaded = PyList_New(0);
    context.keep = PyList_New(0);
    if (context.nodes == NULL || context.internal_nodes == NULL || context.loaded == NULL || context.keep == NULL)
        goto done;
    if (suite == SUITE_SM3) {
        context.hasher.evp = EVP_MD_CTX_new();
        if (context.hasher.evp == NULL) {
            PyErr_NoMemory();
            goto done;
        }
    }
    if (run(&context, has_parent, parent_version, items, &root) < 0) goto done;
    stale = build_stale(&context);
    if (stale == NULL) goto done;
    result = PyTuple_Pack(5, root, context.nodes, stale, context.internal_nodes, context.loaded);
done:
    Py_XDECREF(root);
    Py_XDECREF(stale);
    Py_XDECREF(context.nodes);
    Py_XDECREF(context.internal_nodes);
    Py_XDECREF(context.loaded);
    Py_XDECREF(context.keep);
    Py_DECREF(items);
    if (context.hasher.evp) EVP_MD_CTX_free(context.hasher.evp);
    free(context.stale);
    arena_free(&context.arena);
    return result;
}

PyDoc_STRVAR(encode_stale_keys_doc,
             "encode_stale_keys(version, stale)\n--\n\n"
             "The stale-node index keys of `stale` ((version, nibble path) pairs) since `version`: "
             "b'J' + version(8) + the node's store key, as gusu.ledger.smt encodes them.");

static PyObject *encode_stale_keys(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *version_object, *stale;
    if (!PyArg_ParseTuple(args, "OO:encode_stale_keys", &version_object, &stale)) return NULL;
    uint64_t since;
    if (get_version_argument(version_object, &since) < 0) return NULL;
    PyObject *sequence = PySequence_Fast(stale, "stale must be a sequence");
    if (sequence == NULL) return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(sequence);
    PyObject *result = PyList_New(count);
    if (result == NULL) goto failed;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(sequence, i);
        uint64_t version;
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2 || !PyBytes_Check(PyTuple_GET_ITEM(item, 1))) {
            PyErr_SetString(PyExc_TypeError, "stale entries are (version, nibble path) pairs");
            goto failed;
        }
        if (get_version_argument(PyTuple_GET_ITEM(item, 0), &version) < 0) goto failed;
        PyObject *path = PyTuple_GET_ITEM(item, 1);
        Py_ssize_t length = PyBytes_GET_SIZE(path);
        const uint8_t *nibbles = (const uint8_t *)PyBytes_AS_STRING(path);
        if (length > NIBBLES) {
            PyErr_SetString(PyExc_ValueError, "a nibble path is at most 64 nibbles");
            goto failed;
        }
        for (Py_ssize_t j = 0; j < length; j++)
            if (nibbles[j] > 15) {
                PyErr_SetString(PyExc_ValueError, "a nibble path holds values 0 to 15");
                goto failed;
            }
        PyObject *node_key = encode_node_key(version, nibbles, (int)length);
        if (node_key == NULL) goto failed;
        PyObject *key = PyBytes_FromStringAndSize(NULL, 1 + VERSION_BYTES + PyBytes_GET_SIZE(node_key));
        if (key == NULL) {
            Py_DECREF(node_key);
            goto failed;
        }
        uint8_t *out = (uint8_t *)PyBytes_AS_STRING(key);
        out[0] = 'J';
        put_version(out + 1, since);
        memcpy(out + 1 + VERSION_BYTES, PyBytes_AS_STRING(node_key), PyBytes_GET_SIZE(node_key));
        Py_DECREF(node_key);
        PyList_SET_ITEM(result, i, key);
    }
    Py_DECREF(sequence);
    return result;
failed:
    Py_XDECREF(result);
    Py_DECREF(sequence);
    return NULL;
}

PyDoc_STRVAR(hash_doc, "hash(suite, data)\n--\n\nThe suite's hash of data (0 SM3, 1 keccak-256), for tests.");

static PyObject *hash_function(PyObject *module, PyObject *args) {
    (void)module;
    int suite;
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "iy*:hash", &suite, &data)) return NULL;
    if (suite != SUITE_SM3 && suite != SUITE_KECCAK256) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError, "unknown hash suite");
        return NULL;
    }
    Hasher hasher = {suite, NULL};
    uint8_t out[HASH_SIZE];
    int failed = 0;
    if (suite == SUITE_SM3) {
        hasher.evp = EVP_MD_CTX_new();
        failed = hasher.evp == NULL;
    }
    const uint8_t *parts[1] = {data.buf};
    size_t lengths[1] = {(size_t)data.len};
    if (!failed) failed = hash_parts(&hasher, parts, lengths, 1, out) < 0;
    if (hasher.evp) EVP_MD_CTX_free(hasher.evp);
    PyBuffer_Release(&data);
    if (failed) {
        if (!PyErr_Occurred()) PyErr_NoMemory();
        return NULL;
    }
    return PyBytes_FromStringAndSize((const char *)out, HASH_SIZE);
}

static PyMethodDef methods[] = {
    {"apply_updates", apply_updates, METH_VARARGS, apply_updates_doc},
    {"hash", hash_function, METH_VARARGS, hash_doc},
    {"encode_stale_keys", encode_stale_keys, METH_VARARGS, encode_stale_keys_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT, "_smt_native", "The state tree's per-block update in C (see gusu.ledger.smt).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__smt_native(void) {
    keccak_init_constants();
    if (sm3_md == NULL) {
        sm3_md = EVP_MD_fetch(NULL, "SM3", NULL);
        if (sm3_md == NULL) {
            ERR_clear_error();
            PyErr_SetString(PyExc_ImportError, "libcrypto has no SM3 (OpenSSL 3 with SM3 is needed)");
            return NULL;
        }
    }
    PyObject *errors = PyImport_ImportModule("gusu.errors");
    if (errors == NULL) return NULL;
    storage_error = PyObject_GetAttrString(errors, "StorageError");
    not_found_error = PyObject_GetAttrString(errors, "NotFoundError");
    Py_DECREF(errors);
    if (storage_error == NULL || not_found_error == NULL) return NULL;
    return PyModule_Create(&module_definition);
}
