#!/usr/bin/python3
# Makes arc-dkimpy.eml, a message with a two-hop ARC chain sealed by dkimpy
# (Debian's python3-dkim and python3-authres), an implementation
# independent of ours, and arc-dkimpy.zone, the key records it needs.
# The second hop changes the subject and the body after the first sealed,
# as a mailing list does, so only the newest ARC-Message-Signature holds.
# Run from this directory: ./gen-arc-dkimpy.py
import base64, subprocess, dkim

key = subprocess.run(["openssl", "genrsa", "-traditional", "2048"], check=True, capture_output=True).stdout
pub = subprocess.run(["openssl", "rsa", "-pubout", "-outform", "DER"], input=key, check=True, capture_output=True).stdout
p = base64.b64encode(pub).decode()
record = "v=DKIM1; k=rsa; p=" + p
chunks = " ".join('"%s"' % record[i:i+255] for i in range(0, len(record), 255))
with open("arc-dkimpy.zone", "w") as f:
    for d in ("hop1.test", "hop2.test"):
        f.write("arc._domainkey.%s. 300 IN TXT %s\n" % (d, chunks))

msg = (b"From: Alice <alice@origin.test>\r\n"
       b"To: list@hop2.test\r\n"
       b"Subject: ARC  test\r\n"
       b"Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
       b"Message-ID: <arc-test@origin.test>\r\n"
       b"\r\n"
       b"Hello,  this is the body.\r\n"
       b"\r\n")

# Hop 1: a forwarder checks SPF and seals (cv=none).
msg = b"Authentication-Results: hop1.test; spf=pass smtp.mailfrom=origin.test\r\n" + msg
sealed = dkim.arc_sign(msg, b"arc", b"hop1.test", key, b"hop1.test", timestamp=1700000000,
                       include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
msg = b"".join(sealed) + msg

# Hop 2: a list that found the chain passing, rewrites the subject, adds a
# footer and seals (cv=pass).
head, body = msg.split(b"\r\n\r\n", 1)
head = head.replace(b"Subject: ARC  test", b"Subject: [list] ARC  test")
body = body + b"-- \r\nlist footer\r\n"
msg = b"Authentication-Results: hop2.test; arc=pass; spf=pass smtp.mailfrom=hop1.test\r\n" + head + b"\r\n\r\n" + body
sealed = dkim.arc_sign(msg, b"arc", b"hop2.test", key, b"hop2.test", timestamp=1700000100,
                       include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
msg = b"".join(sealed) + msg

def dnsfunc(name, timeout=5):
    return record.encode()
cv, results, comment = dkim.arc_verify(msg, dnsfunc=dnsfunc)
assert cv == b"pass", (cv, comment)
with open("arc-dkimpy.eml", "wb") as f:
    f.write(msg)
print("ok", comment)
