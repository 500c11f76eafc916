//! Virtual MFA devices (TOTP, RFC 6238): created, enabled for a user with
//! two consecutive codes, and then required by policies through
//! aws:MultiFactorAuthPresent on sessions obtained with a code.

use super::entities::{arn, timestamp, validate_name, validate_path, MfaDevice, User};
use super::{already_exists, load, load_all, no_such, save, transact, IamRequest};
use crate::auth::PrincipalKind;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::response::HttpResponse;
use crate::state::AppState;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use latchkey_storage::{IamKind, IamTx};
use latchkey_token::totp;
use rand::Rng;
use std::sync::Arc;

fn serial(account: &str, d: &MfaDevice) -> String {
    arn(account, "mfa", &d.path, &d.name)
}

/// The device a serial number names in `account`: its name, checked again
/// against the full serial (path included) once loaded, by [`check_serial`].
fn name_of_serial(account: &str, serial: &str) -> S3Result<String> {
    let prefix = format!("arn:aws:iam::{account}:mfa/");
    serial
        .strip_prefix(&prefix)
        .and_then(|r| r.rsplit('/').next())
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .ok_or_else(|| S3Error::msg(ErrorCode::NoSuchEntity, format!("MFA device {serial} not found.")))
}

/// A device whose full serial (path included) is not `serial` is not it.
fn check_serial(account: &str, d: Option<MfaDevice>, serial_number: &str) -> S3Result<MfaDevice> {
    d.filter(|d| serial(account, d) == serial_number)
        .ok_or_else(|| S3Error::msg(ErrorCode::NoSuchEntity, format!("MFA device {serial_number} not found.")))
}

/// Authentication codes are six digits.
fn check_code_format(field: &str, code: &str) -> S3Result<()> {
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(S3Error::msg(
            ErrorCode::ValidationError,
            format!("1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must have length 6 and satisfy regular expression pattern: [\\d]+"),
        ));
    }
    Ok(())
}

fn open_seed(state: &AppState, d: &MfaDevice) -> S3Result<zeroize::Zeroizing<Vec<u8>>> {
    let sealed = B64.decode(&d.seed_sealed).map_err(S3Error::internal)?;
    state.mfa_sealer.open(&sealed).map_err(S3Error::internal)
}

fn invalid_code() -> S3Error {
    S3Error::msg(ErrorCode::InvalidAuthenticationCode, "Authentication code for device is not valid.")
}

/// Checks a one-time code for `user`'s device `serial` at `now` and records
/// its step so it cannot be replayed. Used by STS for SerialNumber/TokenCode.
pub async fn verify_code(
    state: &Arc<AppState>,
    account: &str,
    user: &str,
    serial_number: &str,
    code: &str,
    now: i64,
) -> S3Result<()> {
    let failed = || {
        S3Error::msg(ErrorCode::AccessDenied, "MultiFactorAuthentication failed with invalid MFA one time pass code.")
    };
    let name = name_of_serial(account, serial_number).map_err(|_| failed())?;
    let (user, code) = (user.to_string(), code.to_string());
    let (acct, serial_owned) = (account.to_string(), serial_number.to_string());
    let st = state.clone();
    transact(state, account, move |tx| {
        let acct_for_serial = acct.clone();
        let mut d: MfaDevice = check_serial(&acct_for_serial, load(tx, IamKind::MfaDevice, &name)?, &serial_owned)
            .map_err(|_| failed())?;
        if !d.user.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(&user)) {
            return Err(failed());
        }
        let seed = open_seed(&st, &d)?;
        let step = totp::verify(&seed, &code, now).ok_or_else(failed)?;
        if step <= d.last_step {
            return Err(failed());
        }
        d.last_step = step;
        save(tx, IamKind::MfaDevice, &name, &d)
    })
    .await
}

fn user_has_device(tx: &mut dyn IamTx, user: &str) -> S3Result<bool> {
    let devices: Vec<MfaDevice> = load_all(tx, IamKind::MfaDevice)?;
    Ok(devices.iter().any(|d| d.user.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(user))))
}

/// Whether a user has an MFA device enabled (DeleteUser refuses then).
pub fn has_device(tx: &mut dyn IamTx, user: &str) -> S3Result<bool> {
    user_has_device(tx, user)
}

pub async fn handle(state: &Arc<AppState>, req: &IamRequest<'_>, action: &str) -> S3Result<HttpResponse> {
    let account = req.account().to_string();
    let p = req.params;
    let now = req.now.unix_timestamp();
    match action {
        "CreateVirtualMFADevice" => {
            let name = p.required("VirtualMFADeviceName")?.to_string();
            validate_name("virtualMFADeviceName", &name, 226)?;
            let path = p.get("Path").unwrap_or("/").to_string();
            validate_path(&path)?;
            let mut seed = [0u8; 20];
            rand::rngs::OsRng.fill(&mut seed);
            let mut nonce = [0u8; 24];
            rand::rngs::OsRng.fill(&mut nonce);
            let device = MfaDevice {
                name: name.clone(),
                path,
                seed_sealed: B64.encode(state.mfa_sealer.seal(&seed, nonce)),
                created: timestamp(req.now),
                user: None,
                enabled: None,
                last_step: 0,
            };
            let d = device.clone();
            transact(state, &account, move |tx| {
                if tx.get(IamKind::MfaDevice, &d.name)?.is_some() {
                    return Err(already_exists("MFADevice", &d.name));
                }
                save(tx, IamKind::MfaDevice, &d.name, &d)
            })
            .await?;
            let mut x = req.xml(action);
            // The seed is shown once, here, as authenticator apps take it.
            x.w()
                .open("VirtualMFADevice")
                .elem("SerialNumber", serial(&account, &device))
                .elem("Base32StringSeed", B64.encode(totp::base32(&seed)))
                .close();
            Ok(x.finish(req.request_id))
        }
        "EnableMFADevice" => {
            let user = p.required("UserName")?.to_string();
            let serial_number = p.required("SerialNumber")?.to_string();
            let code1 = p.required("AuthenticationCode1")?.to_string();
            let code2 = p.required("AuthenticationCode2")?.to_string();
            check_code_format("authenticationCode1", &code1)?;
            check_code_format("authenticationCode2", &code2)?;
            let name = name_of_serial(&account, &serial_number)?;
            let acct = account.clone();
            let st = state.clone();
            let now_s = timestamp(req.now);
            transact(state, &account, move |tx| {
                let u: User = load(tx, IamKind::User, &user)?.ok_or_else(|| no_such("user", &user))?;
                let mut d = check_serial(&acct, load(tx, IamKind::MfaDevice, &name)?, &serial_number)?;
                if d.user.is_some() {
                    return Err(S3Error::msg(ErrorCode::EntityAlreadyExists, "MFA device is already in use."));
                }
                let seed = open_seed(&st, &d)?;
                // Two consecutive codes, the first within a few steps of now.
                let s = totp::step(now);
                let first = (s.saturating_sub(3)..=s + 1)
                    .find(|c| totp::hotp(&seed, *c, 6) == code1)
                    .ok_or_else(invalid_code)?;
                if totp::hotp(&seed, first + 1, 6) != code2 {
                    return Err(invalid_code());
                }
                d.user = Some(u.name);
                d.enabled = Some(now_s.clone());
                d.last_step = first + 1;
                save(tx, IamKind::MfaDevice, &name, &d)
            })
            .await?;
            req.done(action)
        }
        "DeactivateMFADevice" => {
            let user = p.required("UserName")?.to_string();
            let serial_number = p.required("SerialNumber")?.to_string();
            let name = name_of_serial(&account, &serial_number)?;
            let acct = account.clone();
            transact(state, &account, move |tx| {
                let mut d = check_serial(&acct, load(tx, IamKind::MfaDevice, &name)?, &serial_number)?;
                if !d.user.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(&user)) {
                    return Err(S3Error::msg(
                        ErrorCode::NoSuchEntity,
                        format!("MFA device {serial_number} is not enabled for user {user}."),
                    ));
                }
                d.user = None;
                d.enabled = None;
                save(tx, IamKind::MfaDevice, &name, &d)
            })
            .await?;
            req.done(action)
        }
        "DeleteVirtualMFADevice" => {
            let serial_number = p.required("SerialNumber")?.to_string();
            let name = name_of_serial(&account, &serial_number)?;
            let acct = account.clone();
            transact(state, &account, move |tx| {
                let d = check_serial(&acct, load(tx, IamKind::MfaDevice, &name)?, &serial_number)?;
                if d.user.is_some() {
                    return Err(S3Error::msg(
                        ErrorCode::DeleteConflict,
                        "MFA device is still in use; deactivate it first.",
                    ));
                }
                tx.delete(IamKind::MfaDevice, &name)?;
                Ok(())
            })
            .await?;
            req.done(action)
        }
        "ListMFADevices" => {
            let user = match (p.get("UserName"), &req.caller.kind) {
                (Some(u), _) => Some(u.to_string()),
                (None, PrincipalKind::User(u)) => Some(u.clone()),
                _ => None,
            };
            let check_user = user.clone();
            let devices: Vec<MfaDevice> = transact(state, &account, move |tx| {
                if let Some(u) = &check_user {
                    load::<User>(tx, IamKind::User, u)?.ok_or_else(|| no_such("user", u))?;
                }
                load_all(tx, IamKind::MfaDevice)
            })
            .await?;
            // The root user's own devices are not supported: root lists none.
            let devices: Vec<MfaDevice> = if user.is_none() { vec![] } else { devices };
            let mut x = req.xml(action);
            x.w().open("MFADevices");
            for d in devices.iter().filter(|d| d.user.is_some()) {
                let owner = d.user.clone().unwrap_or_default();
                if user.as_ref().is_some_and(|u| !u.eq_ignore_ascii_case(&owner)) {
                    continue;
                }
                x.w()
                    .open("member")
                    .elem("UserName", &owner)
                    .elem("SerialNumber", serial(&account, d))
                    .elem("EnableDate", d.enabled.clone().unwrap_or_default())
                    .close();
            }
            x.w().close().elem("IsTruncated", "false");
            Ok(x.finish(req.request_id))
        }
        _ => {
            let status = p.get("AssignmentStatus").unwrap_or("Any").to_string();
            let devices: Vec<MfaDevice> = transact(state, &account, |tx| load_all(tx, IamKind::MfaDevice)).await?;
            let mut x = req.xml(action);
            x.w().open("VirtualMFADevices");
            for d in &devices {
                let assigned = d.user.is_some();
                if (status == "Assigned" && !assigned) || (status == "Unassigned" && assigned) {
                    continue;
                }
                x.w().open("member").elem("SerialNumber", serial(&account, d));
                if let Some(u) = &d.user {
                    x.w().open("User").elem("UserName", u).elem("Arn", arn(&account, "user", "/", u)).close();
                    x.w().elem_opt("EnableDate", d.enabled.as_deref());
                }
                x.w().close();
            }
            x.w().close().elem("IsTruncated", "false");
            Ok(x.finish(req.request_id))
        }
    }
}
