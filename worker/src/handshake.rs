//! Mutual proof between cluster members before a socket is handed to timely.
//!
//! Timely trusts whatever arrives on its links: a stranger that reached a member's timely port
//! could claim a member index, and bad bytes there aborted the formation (and the job) or made
//! timely's threads panic. So every link starts with a challenge-response over a secret the
//! coordinator hands each member of one formation over its authenticated gRPC channel:
//!
//! ```text
//! acceptor -> dialer : MAGIC, nonce_a
//! dialer -> acceptor : dialer index (u64 BE), nonce_d, HMAC(secret, "dial"   | transcript)
//! acceptor -> dialer :                                 HMAC(secret, "accept" | transcript)
//! transcript = nonce_a | nonce_d | dialer index | acceptor index
//! ```
//!
//! Fresh nonces on both sides mean a recorded exchange cannot be replayed in either direction,
//! and binding both indices means a proof for one link is worthless on another. The links are
//! authenticated, not encrypted: listening data crosses them in the clear (see the deployment
//! guide for what that leaves an attacker on the pod network).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// Length of the secrets the coordinator draws.
pub const SECRET_BYTES: usize = 32;
/// Shorter secrets are refused: a guessable secret is no proof.
const MIN_SECRET_BYTES: usize = 16;
/// Says "an archetype member, protocol 1" so a stray client fails fast and legibly.
const MAGIC: [u8; 8] = *b"ARCHTML1";
const NONCE_BYTES: usize = 32;
const TAG_BYTES: usize = 32;
/// How long either side waits for the other's next message.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error(
        "the formation secret is {0} bytes; the coordinator must send at least {MIN_SECRET_BYTES}"
    )]
    ShortSecret(usize),
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("the peer did not greet as an archetype member")]
    NotAMember,
    #[error("the peer's proof does not match this formation's secret")]
    BadProof,
    #[error("the peer claims member index {0}, not one this member accepts")]
    UnexpectedIndex(u64),
    #[error("no system randomness for a nonce")]
    Randomness,
}

/// The key of one formation, made from the coordinator's secret.
#[derive(Clone, Debug)]
pub struct FormationKey(hmac::Key);

impl FormationKey {
    pub fn new(secret: &[u8]) -> Result<FormationKey, HandshakeError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(HandshakeError::ShortSecret(secret.len()));
        }
        Ok(FormationKey(hmac::Key::new(hmac::HMAC_SHA256, secret)))
    }

    fn tag(&self, role: &[u8], transcript: &[u8]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(role);
        ctx.update(transcript);
        ctx.sign()
    }

    fn verify(&self, role: &[u8], transcript: &[u8], tag: &[u8]) -> Result<(), HandshakeError> {
        let mut msg = role.to_vec();
        msg.extend_from_slice(transcript);
        hmac::verify(&self.0, &msg, tag).map_err(|_| HandshakeError::BadProof)
    }
}

/// A fresh secret for one formation (the coordinator's side).
pub fn new_secret() -> Result<Vec<u8>, HandshakeError> {
    let mut s = vec![0u8; SECRET_BYTES];
    SystemRandom::new()
        .fill(&mut s)
        .map_err(|_| HandshakeError::Randomness)?;
    Ok(s)
}

fn nonce() -> Result<[u8; NONCE_BYTES], HandshakeError> {
    let mut n = [0u8; NONCE_BYTES];
    SystemRandom::new()
        .fill(&mut n)
        .map_err(|_| HandshakeError::Randomness)?;
    Ok(n)
}

fn transcript(nonce_a: &[u8], nonce_d: &[u8], dialer: u64, acceptor: u64) -> Vec<u8> {
    let mut t = Vec::with_capacity(2 * NONCE_BYTES + 16);
    t.extend_from_slice(nonce_a);
    t.extend_from_slice(nonce_d);
    t.extend_from_slice(&dialer.to_be_bytes());
    t.extend_from_slice(&acceptor.to_be_bytes());
    t
}

/// The acceptor's side: greets, checks the dialer's claim with `accepts(index)` and its
/// proof, and proves itself back. Returns the dialer's member index.
pub fn accept(
    s: &mut TcpStream,
    key: &FormationKey,
    me: usize,
    accepts: impl Fn(u64) -> bool,
) -> Result<u64, HandshakeError> {
    s.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    s.set_write_timeout(Some(HANDSHAKE_TIMEOUT))?;
    let nonce_a = nonce()?;
    let mut hello = MAGIC.to_vec();
    hello.extend_from_slice(&nonce_a);
    s.write_all(&hello)?;
    let mut claim = [0u8; 8 + NONCE_BYTES + TAG_BYTES];
    s.read_exact(&mut claim)?;
    let index = u64::from_be_bytes(claim[..8].try_into().unwrap_or_default());
    let (nonce_d, tag) = claim[8..].split_at(NONCE_BYTES);
    let t = transcript(&nonce_a, nonce_d, index, me as u64);
    // The proof first: an unproven claim says nothing about which index it meant.
    key.verify(b"dial", &t, tag)?;
    if !accepts(index) {
        return Err(HandshakeError::UnexpectedIndex(index));
    }
    s.write_all(key.tag(b"accept", &t).as_ref())?;
    s.set_read_timeout(None)?;
    s.set_write_timeout(None)?;
    Ok(index)
}

/// The dialer's side, as member `me` reaching member `peer`.
pub fn dial(
    s: &mut TcpStream,
    key: &FormationKey,
    me: usize,
    peer: usize,
) -> Result<(), HandshakeError> {
    s.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    s.set_write_timeout(Some(HANDSHAKE_TIMEOUT))?;
    let mut hello = [0u8; MAGIC.len() + NONCE_BYTES];
    s.read_exact(&mut hello)?;
    let (magic, nonce_a) = hello.split_at(MAGIC.len());
    if magic != MAGIC {
        return Err(HandshakeError::NotAMember);
    }
    let nonce_d = nonce()?;
    let t = transcript(nonce_a, &nonce_d, me as u64, peer as u64);
    let mut claim = (me as u64).to_be_bytes().to_vec();
    claim.extend_from_slice(&nonce_d);
    claim.extend_from_slice(key.tag(b"dial", &t).as_ref());
    s.write_all(&claim)?;
    let mut tag = [0u8; TAG_BYTES];
    s.read_exact(&mut tag)?;
    key.verify(b"accept", &t, &tag)?;
    s.set_read_timeout(None)?;
    s.set_write_timeout(None)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let addr = l.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let c = TcpStream::connect(addr).unwrap_or_else(|e| panic!("{e}"));
        let (s, _) = l.accept().unwrap_or_else(|e| panic!("{e}"));
        (c, s)
    }

    fn key(byte: u8) -> FormationKey {
        FormationKey::new(&[byte; SECRET_BYTES]).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn members_with_one_secret_prove_themselves_both_ways() {
        let (mut c, mut s) = pair();
        let k = key(7);
        let k2 = k.clone();
        let acceptor = std::thread::spawn(move || accept(&mut s, &k2, 0, |i| i == 1));
        dial(&mut c, &k, 1, 0).unwrap_or_else(|e| panic!("{e}"));
        let got = acceptor
            .join()
            .unwrap_or_else(|_| panic!("acceptor panicked"));
        assert_eq!(got.unwrap_or_else(|e| panic!("{e}")), 1);
    }

    #[test]
    fn another_secret_is_refused_on_both_sides() {
        let (mut c, mut s) = pair();
        let acceptor = std::thread::spawn(move || accept(&mut s, &key(7), 0, |_| true));
        let dialed = dial(&mut c, &key(8), 1, 0);
        let accepted = acceptor
            .join()
            .unwrap_or_else(|_| panic!("acceptor panicked"));
        assert!(
            matches!(accepted, Err(HandshakeError::BadProof)),
            "{accepted:?}"
        );
        // The acceptor hung up without its proof.
        assert!(dialed.is_err());
    }

    #[test]
    fn a_proven_member_claiming_an_unexpected_index_is_refused() {
        let (mut c, mut s) = pair();
        let acceptor = std::thread::spawn(move || accept(&mut s, &key(7), 0, |i| i == 1));
        let _ = dial(&mut c, &key(7), 2, 0);
        let accepted = acceptor
            .join()
            .unwrap_or_else(|_| panic!("acceptor panicked"));
        assert!(
            matches!(accepted, Err(HandshakeError::UnexpectedIndex(2))),
            "{accepted:?}"
        );
    }

    #[test]
    fn a_replayed_claim_fails_against_a_fresh_nonce() {
        // Record an honest claim, then replay it on a new connection.
        let (mut c, mut s) = pair();
        let acceptor = std::thread::spawn(move || accept(&mut s, &key(7), 0, |_| true));
        dial(&mut c, &key(7), 1, 0).unwrap_or_else(|e| panic!("{e}"));
        let _ = acceptor.join();
        let mut hello = [0u8; MAGIC.len() + NONCE_BYTES];
        let (mut c1, mut s1) = pair();
        let k = key(7);
        let a1 = std::thread::spawn(move || accept(&mut s1, &k, 0, |_| true));
        c1.read_exact(&mut hello).unwrap_or_else(|e| panic!("{e}"));
        // A claim computed against some other nonce_a (all zeros), as a replay would be.
        let t = transcript(&[0u8; NONCE_BYTES], &[1u8; NONCE_BYTES], 1, 0);
        let mut claim = 1u64.to_be_bytes().to_vec();
        claim.extend_from_slice(&[1u8; NONCE_BYTES]);
        claim.extend_from_slice(key(7).tag(b"dial", &t).as_ref());
        c1.write_all(&claim).unwrap_or_else(|e| panic!("{e}"));
        let r = a1.join().unwrap_or_else(|_| panic!("acceptor panicked"));
        assert!(matches!(r, Err(HandshakeError::BadProof)), "{r:?}");
    }

    #[test]
    fn garbage_and_silence_fail_without_panicking() {
        let (mut c, mut s) = pair();
        let acceptor = std::thread::spawn(move || accept(&mut s, &key(7), 0, |_| true));
        c.write_all(&[0xAB; 200]).unwrap_or_else(|e| panic!("{e}"));
        let r = acceptor
            .join()
            .unwrap_or_else(|_| panic!("acceptor panicked"));
        assert!(matches!(r, Err(HandshakeError::BadProof)), "{r:?}");

        let (_c, mut s) = pair();
        let r = accept(&mut s, &key(7), 0, |_| true);
        assert!(matches!(r, Err(HandshakeError::Io(_))), "{r:?}");
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(matches!(
            FormationKey::new(&[1u8; 8]),
            Err(HandshakeError::ShortSecret(8))
        ));
        assert!(matches!(
            FormationKey::new(&[]),
            Err(HandshakeError::ShortSecret(0))
        ));
    }
}
