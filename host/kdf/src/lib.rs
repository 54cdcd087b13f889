//! The password-based key derivations wasm-gateway computes for its guests,
//! behind Python's `hashlib.pbkdf2_hmac` and `hashlib.scrypt`, with no
//! knowledge of WebAssembly: CPython's argument checks (its messages, word
//! for word, so the guest raises what CPython raises), the host's cost
//! caps, and the computing. The host's side of the guest interface,
//! scheduling and deadlines included, is `host/src/runtime/kdf.rs`.
//!
//! A derivation is checked in full before it starts ([`Pbkdf2::check`],
//! [`Scrypt::check`]), on the caller's thread: a refusal costs nothing and
//! takes no worker. [`Pbkdf2::derive`] then asks its `stop` every few
//! thousand rounds and gives up when told; scrypt's rounds happen inside
//! the `scrypt` crate, out of reach, so its caps are what bound it.
//!
//! A crate of its own, and not a module of the host's, for one reason: the
//! rounds are generic code (HMAC over each hash) instantiated here, and the
//! workspace optimizes this crate in debug builds too, where the host is
//! not (a debug build runs Django's default hasher in 0.2 s, not 4 s).

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};

/// The hash under HMAC, by its `hashlib` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    /// `md5`
    Md5,
    /// `sha1`
    Sha1,
    /// `sha224`
    Sha224,
    /// `sha256`
    Sha256,
    /// `sha384`
    Sha384,
    /// `sha512`
    Sha512,
    /// `sha512_224`
    Sha512_224,
    /// `sha512_256`
    Sha512_256,
    /// `sha3_224`
    Sha3_224,
    /// `sha3_256`
    Sha3_256,
    /// `sha3_384`
    Sha3_384,
    /// `sha3_512`
    Sha3_512,
}

/// Why no key was derived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// An argument CPython rejects with `ValueError`: CPython's message.
    Invalid(String),
    /// scrypt: the memory OpenSSL reckons it needs is above `maxmem`.
    MemoryLimit,
    /// Above the caps of this crate; the message says which.
    TooCostly(String),
    /// The derivation's `stop` said so.
    Stopped,
}

/// CPython's `INT_MAX`: the largest iteration count, key length or
/// `maxmem` it accepts.
const INT_MAX: u64 = i32::MAX as u64;

/// The longest key the host derives. CPython goes up to `INT_MAX` bytes;
/// password hashes are 16 to 64 bytes, and a key of gigabytes would be host
/// memory the guest's limit does not see.
pub const MAX_KEY_LEN: u32 = 1 << 20;

/// PBKDF2's cap: iterations times blocks (of the hash's output size), the
/// number of HMAC rounds; about 7 times Django's default (1.5 million
/// rounds of HMAC-SHA256, 150 to 250 ms of one core). Ten million rounds
/// take 1 to 2 s with SHA-256 and up to 8 s with SHA-512 (no CPU has
/// instructions for it): the cap refuses the absurd at once, the request's
/// deadline stops the rest.
pub const MAX_PBKDF2_ROUNDS: u64 = 10_000_000;

/// scrypt's time cap: `n·r·p`, 8 times werkzeug's default (`n=2^15, r=8,
/// p=1`: 2^18, 80 to 130 ms). A derivation at the cap takes about a second,
/// and cannot be stopped halfway.
pub const MAX_SCRYPT_WORK: u64 = 1 << 21;

/// scrypt's memory cap, whatever `maxmem` allows: twice OpenSSL's default
/// `maxmem`. The memory is the host's, outside the guest's limit.
pub const MAX_SCRYPT_MEMORY: u64 = 64 << 20;

/// What `maxmem=0` means (OpenSSL's `SCRYPT_MAX_MEM`).
pub const SCRYPT_DEFAULT_MAXMEM: u64 = 32 << 20;

/// How many PBKDF2 rounds run between two questions to `stop` (a fraction
/// of a millisecond with any of the hashes).
const ROUNDS_PER_CHECK: u32 = 4096;

/// CPython's message for scrypt arguments OpenSSL refuses.
const SCRYPT_COMBINATION: &str = "Invalid parameter combination for n, r, p, maxmem.";

fn invalid(message: &str) -> Refusal {
    Refusal::Invalid(message.to_owned())
}

/// The output size, in bytes, of `digest`.
pub fn output_len(digest: Digest) -> u32 {
    match digest {
        Digest::Md5 => 16,
        Digest::Sha1 => 20,
        Digest::Sha224 | Digest::Sha512_224 | Digest::Sha3_224 => 28,
        Digest::Sha256 | Digest::Sha512_256 | Digest::Sha3_256 => 32,
        Digest::Sha384 | Digest::Sha3_384 => 48,
        Digest::Sha512 | Digest::Sha3_512 => 64,
    }
}

/// One `pbkdf2_hmac` call.
#[derive(Debug, Clone)]
pub struct Pbkdf2 {
    /// The hash under HMAC.
    pub digest: Digest,
    /// HMAC's key.
    pub password: Vec<u8>,
    /// The salt.
    pub salt: Vec<u8>,
    /// Rounds per block.
    pub iterations: u32,
    /// The key's length in bytes.
    pub dklen: u32,
}

impl Pbkdf2 {
    /// CPython's checks, in its order, then the host's caps.
    pub fn check(&self) -> Result<(), Refusal> {
        if self.iterations < 1 {
            return Err(invalid("iteration value must be greater than 0."));
        }
        if u64::from(self.iterations) > INT_MAX {
            return Err(invalid("iteration value is too great."));
        }
        if self.dklen < 1 {
            return Err(invalid("key length must be greater than 0."));
        }
        if u64::from(self.dklen) > INT_MAX {
            return Err(invalid("key length is too great."));
        }
        if self.dklen > MAX_KEY_LEN {
            return Err(Refusal::TooCostly(format!(
                "a key of {} bytes is longer than the host derives (at most {MAX_KEY_LEN})",
                self.dklen
            )));
        }
        let rounds = self.rounds();
        if rounds > MAX_PBKDF2_ROUNDS {
            return Err(Refusal::TooCostly(format!(
                "{} iterations for {} bytes of key are {rounds} HMAC rounds, more than the host's cap of {MAX_PBKDF2_ROUNDS}",
                self.iterations, self.dklen
            )));
        }
        Ok(())
    }

    /// The HMAC rounds the derivation takes: iterations times blocks.
    pub fn rounds(&self) -> u64 {
        let blocks = self.dklen.div_ceil(output_len(self.digest));
        u64::from(self.iterations) * u64::from(blocks)
    }

    /// Derives the key (the call must have passed [`Pbkdf2::check`]);
    /// `Err(Stopped)` as soon as `stop` says so.
    pub fn derive(&self, stop: &dyn Fn() -> bool) -> Result<Vec<u8>, Refusal> {
        let mut key = vec![0; self.dklen as usize];
        let (p, s, i, out) = (
            &self.password[..],
            &self.salt[..],
            self.iterations,
            &mut key,
        );
        match self.digest {
            Digest::Md5 => pbkdf2::<Hmac<md5::Md5>>(p, s, i, out, stop),
            Digest::Sha1 => pbkdf2::<Hmac<sha1::Sha1>>(p, s, i, out, stop),
            Digest::Sha224 => pbkdf2::<Hmac<sha2::Sha224>>(p, s, i, out, stop),
            Digest::Sha256 => pbkdf2::<Hmac<sha2::Sha256>>(p, s, i, out, stop),
            Digest::Sha384 => pbkdf2::<Hmac<sha2::Sha384>>(p, s, i, out, stop),
            Digest::Sha512 => pbkdf2::<Hmac<sha2::Sha512>>(p, s, i, out, stop),
            Digest::Sha512_224 => pbkdf2::<Hmac<sha2::Sha512_224>>(p, s, i, out, stop),
            Digest::Sha512_256 => pbkdf2::<Hmac<sha2::Sha512_256>>(p, s, i, out, stop),
            Digest::Sha3_224 => pbkdf2::<Hmac<sha3::Sha3_224>>(p, s, i, out, stop),
            Digest::Sha3_256 => pbkdf2::<Hmac<sha3::Sha3_256>>(p, s, i, out, stop),
            Digest::Sha3_384 => pbkdf2::<Hmac<sha3::Sha3_384>>(p, s, i, out, stop),
            Digest::Sha3_512 => pbkdf2::<Hmac<sha3::Sha3_512>>(p, s, i, out, stop),
        }?;
        Ok(key)
    }
}

/// PBKDF2 (RFC 8018, section 5.2) with the PRF `M`, into `out`: block `i`
/// (from 1) is `U1 ^ U2 ^ ... ^ Uc`, with `U1 = PRF(P, S || INT_BE(i))` and
/// `Uj = PRF(P, Uj-1)`. The keyed PRF is made once and cloned for each
/// round, so a long password is hashed once, not every round.
fn pbkdf2<M: Mac + KeyInit + Clone>(
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    out: &mut [u8],
    stop: &dyn Fn() -> bool,
) -> Result<(), Refusal> {
    let prf = <M as KeyInit>::new_from_slice(password).expect("HMAC takes a key of any length");
    let len = <M as hmac::digest::OutputSizeUser>::output_size();
    for (index, block) in out.chunks_mut(len).enumerate() {
        if stop() {
            return Err(Refusal::Stopped);
        }
        let number = u32::try_from(index + 1).expect("keys are capped far below 2^32 blocks");
        let mut mac = prf.clone();
        mac.update(salt);
        mac.update(&number.to_be_bytes());
        let mut u = mac.finalize().into_bytes();
        let mut t = u.clone();
        for round in 1..iterations {
            if round % ROUNDS_PER_CHECK == 0 && stop() {
                return Err(Refusal::Stopped);
            }
            let mut mac = prf.clone();
            mac.update(&u);
            u = mac.finalize().into_bytes();
            for (t, u) in t.iter_mut().zip(u.iter()) {
                *t ^= u;
            }
        }
        block.copy_from_slice(&t[..block.len()]);
    }
    Ok(())
}

/// One `scrypt` call.
#[derive(Debug, Clone)]
pub struct Scrypt {
    /// The password.
    pub password: Vec<u8>,
    /// The salt.
    pub salt: Vec<u8>,
    /// The CPU/memory cost, a power of 2.
    pub n: u64,
    /// The block size.
    pub r: u32,
    /// The parallelism.
    pub p: u32,
    /// The most memory the derivation may take, in bytes; 0 for 32 MiB.
    pub maxmem: u64,
    /// The key's length in bytes.
    pub dklen: u32,
}

impl Scrypt {
    /// CPython's checks and OpenSSL's (`EVP_PBE_scrypt`), in their order,
    /// then the host's caps.
    pub fn check(&self) -> Result<(), Refusal> {
        let (n, r, p) = (self.n, u64::from(self.r), u64::from(self.p));
        if n < 2 || !n.is_power_of_two() {
            return Err(invalid("n must be a power of 2."));
        }
        if self.maxmem > INT_MAX {
            return Err(Refusal::Invalid(format!(
                "maxmem must be positive and smaller than {INT_MAX}"
            )));
        }
        if self.dklen < 1 || u64::from(self.dklen) > INT_MAX {
            return Err(Refusal::Invalid(format!(
                "dklen must be greater than 0 and smaller than {INT_MAX}"
            )));
        }
        // OpenSSL's: r and p at least 1, r·p below 2^30, and n below
        // 2^(16·r) (RFC 7914, section 2).
        if r == 0 || p == 0 || r * p >= 1 << 30 || (16 * r < 64 && n >= 1 << (16 * r)) {
            return Err(invalid(SCRYPT_COMBINATION));
        }
        let memory = self.memory();
        let allowed = match self.maxmem {
            0 => SCRYPT_DEFAULT_MAXMEM,
            maxmem => maxmem,
        };
        if memory > u128::from(allowed) {
            return Err(Refusal::MemoryLimit);
        }
        if memory > u128::from(MAX_SCRYPT_MEMORY) {
            return Err(Refusal::TooCostly(format!(
                "scrypt with n={n}, r={r}, p={p} needs {memory} bytes of memory, more than the host's cap of {MAX_SCRYPT_MEMORY}"
            )));
        }
        let work = u128::from(n) * u128::from(r) * u128::from(p);
        if work > u128::from(MAX_SCRYPT_WORK) {
            return Err(Refusal::TooCostly(format!(
                "scrypt with n={n}, r={r}, p={p} is {work} block mixes (n·r·p), more than the host's cap of {MAX_SCRYPT_WORK}"
            )));
        }
        if self.dklen > MAX_KEY_LEN {
            return Err(Refusal::TooCostly(format!(
                "a key of {} bytes is longer than the host derives (at most {MAX_KEY_LEN})",
                self.dklen
            )));
        }
        Ok(())
    }

    /// The memory the derivation needs as OpenSSL reckons it (and checks it
    /// against `maxmem`): `128·r·(n+2)` for the big array and its scratch,
    /// `128·r·p` for the blocks.
    pub fn memory(&self) -> u128 {
        let (n, r, p) = (u128::from(self.n), u128::from(self.r), u128::from(self.p));
        128 * r * (n + 2) + 128 * r * p
    }

    /// Derives the key (the call must have passed [`Scrypt::check`]); the
    /// `scrypt` crate's loop cannot be stopped, so `stop` is asked only
    /// before it starts.
    pub fn derive(&self, stop: &dyn Fn() -> bool) -> Result<Vec<u8>, Refusal> {
        if stop() {
            return Err(Refusal::Stopped);
        }
        let log_n = u8::try_from(self.n.trailing_zeros()).expect("a u64 has 64 bits");
        // The `len` of `Params` is only for the crate's password-hash
        // strings; the key's length is the output's.
        let params = scrypt::Params::new(log_n, self.r, self.p, scrypt::Params::RECOMMENDED_LEN)
            .map_err(|_| invalid(SCRYPT_COMBINATION))?;
        let mut key = vec![0; self.dklen as usize];
        scrypt::scrypt(&self.password, &self.salt, &params, &mut key)
            .map_err(|_| invalid(SCRYPT_COMBINATION))?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn never() -> bool {
        false
    }

    fn pbkdf2_hex(
        digest: Digest,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
        dklen: Option<u32>,
    ) -> String {
        let job = Pbkdf2 {
            digest,
            password: password.to_vec(),
            salt: salt.to_vec(),
            iterations,
            dklen: dklen.unwrap_or_else(|| output_len(digest)),
        };
        job.check().unwrap();
        hex(&job.derive(&never).unwrap())
    }

    fn scrypt_job(password: &[u8], salt: &[u8], n: u64, r: u32, p: u32) -> Scrypt {
        Scrypt {
            password: password.to_vec(),
            salt: salt.to_vec(),
            n,
            r,
            p,
            maxmem: 0,
            dklen: 64,
        }
    }

    /// RFC 6070's PBKDF2-HMAC-SHA1 vectors (the 16,777,216-round one is
    /// left out: it is almost a cap's worth), and CPython's `test_hashlib`
    /// values for SHA-256 and the other hashes.
    #[test]
    fn pbkdf2_gives_the_rfc_6070_and_cpython_vectors() {
        let sha1 = |p: &[u8], s: &[u8], i, l| pbkdf2_hex(Digest::Sha1, p, s, i, l);
        assert_eq!(
            sha1(b"password", b"salt", 1, None),
            "0c60c80f961f0e71f3a9b524af6012062fe037a6"
        );
        assert_eq!(
            sha1(b"password", b"salt", 2, None),
            "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"
        );
        assert_eq!(
            sha1(b"password", b"salt", 4096, None),
            "4b007901b765489abead49d926f721d065a429c1"
        );
        assert_eq!(
            sha1(
                b"passwordPASSWORDpassword",
                b"saltSALTsaltSALTsaltSALTsaltSALTsalt",
                4096,
                Some(25)
            ),
            "3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038"
        );
        assert_eq!(
            sha1(b"pass\0word", b"sa\0lt", 4096, Some(16)),
            "56fa6aa75548099dcc37d7f03425e0c3"
        );
        assert_eq!(
            pbkdf2_hex(Digest::Sha256, b"password", b"salt", 4096, None),
            "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"
        );
        assert_eq!(
            pbkdf2_hex(Digest::Sha512, b"password", b"salt", 1, None),
            "867f70cf1ade02cff3752599a3a53dc4af34c7a669815ae5d513554e1c8cf252c02d470a285a0501bad999bfe943c08f050235d7d68b1da55e63f73b60a57fce"
        );
    }

    /// Every hash against the `pbkdf2` crate, over odd key lengths (a
    /// partial last block), empty and long passwords and salts.
    #[test]
    fn pbkdf2_agrees_with_the_pbkdf2_crate_for_every_hash() {
        fn theirs<M: hmac::digest::FixedOutput + hmac::digest::Update + KeyInit + Clone + Sync>(
            p: &[u8],
            s: &[u8],
            i: u32,
            len: usize,
        ) -> Vec<u8> {
            let mut out = vec![0; len];
            pbkdf2::pbkdf2::<M>(p, s, i, &mut out).unwrap();
            out
        }
        let long = vec![0x5a; 200];
        let cases: [(&[u8], &[u8], u32, u32); 4] = [
            (b"password", b"salt", 3, 1),
            (b"", b"", 2, 100),
            (&long, b"salt", 5, 77),
            (b"pw", &long, 1, 129),
        ];
        for (p, s, i, len) in cases {
            let ours = |digest| {
                let job = Pbkdf2 {
                    digest,
                    password: p.to_vec(),
                    salt: s.to_vec(),
                    iterations: i,
                    dklen: len,
                };
                job.derive(&never).unwrap()
            };
            let n = len as usize;
            macro_rules! same {
                ($($digest:ident: $hash:ty),* $(,)?) => {$(
                    assert_eq!(
                        ours(Digest::$digest),
                        theirs::<Hmac<$hash>>(p, s, i, n),
                        stringify!($digest)
                    );
                )*};
            }
            same!(
                Md5: md5::Md5,
                Sha1: sha1::Sha1,
                Sha224: sha2::Sha224,
                Sha256: sha2::Sha256,
                Sha384: sha2::Sha384,
                Sha512: sha2::Sha512,
                Sha512_224: sha2::Sha512_224,
                Sha512_256: sha2::Sha512_256,
                Sha3_224: sha3::Sha3_224,
                Sha3_256: sha3::Sha3_256,
                Sha3_384: sha3::Sha3_384,
                Sha3_512: sha3::Sha3_512,
            );
        }
        // CPython (OpenSSL) for HMAC-SHA3 and MD5, to be sure the crates'
        // block sizes are OpenSSL's.
        assert_eq!(
            pbkdf2_hex(Digest::Sha3_256, b"password", b"salt", 4096, None),
            "778b6e237a0f49621549ff70d218d2080756b9fb38d71b5d7ef447fa2254af61"
        );
        assert_eq!(
            pbkdf2_hex(Digest::Md5, b"password", b"salt", 1, None),
            "f31afb6d931392daa5e3130f47f9a9b6"
        );
    }

    /// RFC 7914's scrypt vectors but the last (2^20, a GiB), and werkzeug's
    /// default parameters.
    #[test]
    fn scrypt_gives_the_rfc_7914_vectors() {
        let derive = |job: Scrypt| {
            job.check().unwrap();
            hex(&job.derive(&never).unwrap())
        };
        assert_eq!(
            derive(scrypt_job(b"", b"", 16, 1, 1)),
            "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906"
        );
        assert_eq!(
            derive(scrypt_job(b"password", b"NaCl", 1024, 8, 16)),
            "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"
        );
        assert_eq!(
            derive(scrypt_job(b"pleaseletmein", b"SodiumChloride", 16384, 8, 1)),
            "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887"
        );
        // werkzeug's `scrypt:32768:8:1` with its `maxmem=132*n*r*p`.
        let mut werkzeug = scrypt_job(b"secret", b"salt", 32768, 8, 1);
        werkzeug.maxmem = 132 * 32768 * 8;
        assert_eq!(
            derive(werkzeug),
            "fe2c14d42965d292019755b7f7afade5854120d07806951a23ee52c8e8116aeaa01a2b564ae166926c584cee9b6173c243061463ba23a7147a2459b179fc9c4c"
        );
    }

    /// CPython's messages for the arguments it refuses, in its order.
    #[test]
    fn arguments_are_refused_with_cpython_s_messages() {
        let message = |e: Refusal| match e {
            Refusal::Invalid(m) => m,
            other => panic!("{other:?}"),
        };
        let pbkdf2 = |iterations, dklen| {
            Pbkdf2 {
                digest: Digest::Sha256,
                password: vec![],
                salt: vec![],
                iterations,
                dklen,
            }
            .check()
        };
        assert_eq!(
            message(pbkdf2(0, 32).unwrap_err()),
            "iteration value must be greater than 0."
        );
        assert_eq!(
            message(pbkdf2(1 << 31, 32).unwrap_err()),
            "iteration value is too great."
        );
        assert_eq!(
            message(pbkdf2(1, 0).unwrap_err()),
            "key length must be greater than 0."
        );
        assert_eq!(
            message(pbkdf2(1, 1 << 31).unwrap_err()),
            "key length is too great."
        );

        let scrypt = |n, r, p, maxmem, dklen| {
            Scrypt {
                password: vec![],
                salt: vec![],
                n,
                r,
                p,
                maxmem,
                dklen,
            }
            .check()
        };
        for n in [0, 1, 3, 1000, u64::MAX] {
            assert_eq!(
                message(scrypt(n, 1, 1, 0, 64).unwrap_err()),
                "n must be a power of 2."
            );
        }
        assert_eq!(
            message(scrypt(2, 1, 1, 1 << 31, 64).unwrap_err()),
            "maxmem must be positive and smaller than 2147483647"
        );
        for dklen in [0, 1 << 31] {
            assert_eq!(
                message(scrypt(2, 1, 1, 0, dklen).unwrap_err()),
                "dklen must be greater than 0 and smaller than 2147483647"
            );
        }
        for (n, r, p) in [
            (2, 0, 1),
            (2, 1, 0),
            (2, 1 << 15, 1 << 15),
            (1 << 16, 1, 1),
            (1 << 63, 3, 1),
        ] {
            assert_eq!(
                message(scrypt(n, r, p, 0, 64).unwrap_err()),
                SCRYPT_COMBINATION,
                "{n} {r} {p}"
            );
        }
        // n below 2^(16·r) is fine.
        assert!(scrypt(1 << 15, 1, 1, 0, 64).is_ok());
    }

    /// OpenSSL's memory rule: `128·r·(n+2) + 128·r·p` against `maxmem`, 32
    /// MiB when it is 0 (which is why werkzeug passes `132·n·r·p`); then
    /// the host's own caps, whatever `maxmem` says.
    #[test]
    fn scrypt_memory_follows_openssl_and_the_host_caps_it() {
        let check = |n, r, p, maxmem| {
            Scrypt {
                password: vec![],
                salt: vec![],
                n,
                r,
                p,
                maxmem,
                dklen: 64,
            }
            .check()
        };
        // werkzeug's default needs just over 32 MiB.
        assert!(matches!(check(1 << 15, 8, 1, 0), Err(Refusal::MemoryLimit)));
        assert!(check(1 << 15, 8, 1, 132 * (1 << 15) * 8).is_ok());
        // n=2^14, r=8: 16 MiB, within the default.
        assert!(check(1 << 14, 8, 1, 0).is_ok());
        // The hostile case of the tests: a GiB.
        assert!(matches!(check(1 << 20, 8, 1, 0), Err(Refusal::MemoryLimit)));
        // Allowed by maxmem, refused by the host: 128 MiB.
        assert!(matches!(
            check(1 << 17, 8, 1, INT_MAX),
            Err(Refusal::TooCostly(_))
        ));
        // Memory within the caps, time not: n·r·p = 2^22.
        assert!(matches!(
            check(1 << 14, 8, 32, INT_MAX),
            Err(Refusal::TooCostly(_))
        ));
        assert!(check(1 << 14, 8, 16, INT_MAX).is_ok());
    }

    #[test]
    fn pbkdf2_costs_are_capped_up_front() {
        let check = |digest, iterations, dklen| {
            Pbkdf2 {
                digest,
                password: vec![],
                salt: vec![],
                iterations,
                dklen,
            }
            .check()
        };
        // Django's default, and the cap itself.
        assert!(check(Digest::Sha256, 1_500_000, 32).is_ok());
        assert!(check(Digest::Sha256, MAX_PBKDF2_ROUNDS as u32, 32).is_ok());
        assert!(matches!(
            check(Digest::Sha256, MAX_PBKDF2_ROUNDS as u32 + 1, 32),
            Err(Refusal::TooCostly(_))
        ));
        // Rounds count every block: 33 bytes of SHA-256 are two.
        assert!(matches!(
            check(Digest::Sha256, MAX_PBKDF2_ROUNDS as u32 / 2 + 1, 33),
            Err(Refusal::TooCostly(_))
        ));
        assert!(matches!(
            check(Digest::Sha256, 1, MAX_KEY_LEN + 1),
            Err(Refusal::TooCostly(_))
        ));
        assert!(matches!(
            check(Digest::Sha256, i32::MAX as u32, 32),
            Err(Refusal::TooCostly(_))
        ));
    }

    /// `stop` is asked before each block and every few thousand rounds:
    /// a derivation told to stop ends within a check's worth of rounds.
    #[test]
    fn pbkdf2_stops_when_told() {
        let asked = Cell::new(0u32);
        let job = Pbkdf2 {
            digest: Digest::Sha256,
            password: b"password".to_vec(),
            salt: b"salt".to_vec(),
            iterations: MAX_PBKDF2_ROUNDS as u32,
            dklen: 32,
        };
        let started = std::time::Instant::now();
        let stop = || {
            asked.set(asked.get() + 1);
            asked.get() > 3
        };
        assert!(matches!(job.derive(&stop), Err(Refusal::Stopped)));
        assert_eq!(
            asked.get(),
            4,
            "once before the block, then every {ROUNDS_PER_CHECK} rounds"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(1));

        let scrypt = scrypt_job(b"", b"", 16, 1, 1);
        assert!(matches!(scrypt.derive(&|| true), Err(Refusal::Stopped)));
    }
}
