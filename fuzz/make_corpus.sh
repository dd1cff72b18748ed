#!/usr/bin/env bash
# Writes the seed corpora of fuzz/corpus/<target>/ from the tests' own inputs (JSON resources,
# patches, FHIRPath expressions, searches, records of the unit tests), a few hand-written
# requests, tokens and S3 answers, and, through fuzz/corpus_gen (built by `make fuzz` in
# build-fuzz/fuzz/), what only Hygie's writers can make: keys, signed notes, journal trees,
# sealed packs and signed manifest entries. Usage: fuzz/make_corpus.sh [BUILD_DIR]
# (default build-fuzz). Replaces the corpora; keep them small (a few dozen files each).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-fuzz}
rm -rf fuzz/corpus
mkdir -p fuzz/corpus
python3 - <<'EOF'
import hashlib, json, os, re, struct, urllib.parse

OUT = "fuzz/corpus"
def write(target, data, name=None):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    name = name or hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def raw_strings(path):
    text = open(path, encoding="utf-8").read()
    return [m.group(1) for m in re.finditer(r'R"\((.*?)\)"', text, re.S)]

def spread(items, n):
    """At most n items, spread over the list (the tests' order mixes topics)."""
    items = list(dict.fromkeys(items))
    if len(items) <= n:
        return items
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]

def is_json(s):
    try:
        json.loads(s)
        return True
    except ValueError:
        return False

# --- resource: the resources of the FHIR tests (valid and not), the bundles of the e2e tests.
resources = []
for f in ["src/fhir/resource_test.cc", "src/fhir/validator_test.cc",
          "src/fhir/search/search_test.cc", "src/fhir/fhirpath_test.cc"]:
    resources += [s for s in raw_strings(f) if '"resourceType"' in s]
bundles = [s for s in raw_strings("tests/e2e/bundle_test.cc") if '"Bundle"' in s]
for s in spread(resources, 40) + spread(bundles, 4):
    write("resource", s)
for s in spread([s for s in raw_strings("src/fhir/resource_test.cc") if not '"resourceType"' in s], 8):
    write("resource", s)

# --- json_patch: each patch of the tests with the target resource before it in the file.
target = '{"resourceType":"Patient","id":"p1","name":[{"family":"Martin","given":["Léa"]}]}'
pairs = []
for s in raw_strings("src/fhir/json_patch_test.cc"):
    t = s.strip()
    if t.startswith("{") and '"resourceType"' in t:
        target = t
    elif t.startswith("["):
        pairs.append(target + "\0" + t)
for p in spread(pairs, 40):
    write("json_patch", p)

# --- fhirpath: the expressions of the tests, over a resource of the tests.
text = open("src/fhir/fhirpath_test.cc", encoding="utf-8").read()
exprs = re.findall(r'(?:MustParse|Expression::Parse|Eval|Types|Values)\("((?:[^"\\]|\\.)*)"\s*[,)]', text)
exprs = [bytes(e, "utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8") for e in exprs]
tables = open("src/fhir/r4/generated/r4_tables.cc", encoding="utf-8").read()
param_exprs = re.findall(r'\{"\w+","[\w-]+",k\w+,"([^"]+)"', tables)
fp_resources = [s for s in raw_strings("src/fhir/fhirpath_test.cc") if '"resourceType"' in s]
for i, e in enumerate(spread(exprs, 24) + spread(param_exprs, 30)):
    write("fhirpath", e + "\0" + (fp_resources[i % len(fp_resources)] if fp_resources else ""))

# --- search and url: the searches of the planner's tests, as query strings.
text = open("src/fhir/search/search_test.cc", encoding="utf-8").read()
searches = []
for m in re.finditer(r'(?:Find|Plan)\("(\w*)",\s*\{((?:\{"[^"]*",\s*"[^"]*"\},?\s*)+)\}', text):
    params = re.findall(r'\{"([^"]*)",\s*"([^"]*)"\}', m.group(2))
    searches.append(m.group(1) + "?" + urllib.parse.urlencode(params, safe=":|,/"))
searches += [
    "Observation?subject:Patient.name=martin&_include=Observation:subject&_count=5",
    "Observation?patient.identifier=http://x|1&_sort=-date&_total=accurate",
    "Patient?_has:Observation:subject:code=8867-4",
    "Patient/p1/Observation?code=8867-4&_summary=count",
    "?_type=Patient,Observation&_lastUpdated=ge2022-01-01&_elements=id,meta",
    "Encounter?subject.organization.name=x",
    "Observation?value-quantity=lt5.4|http://unitsofmeasure.org|mg&date=ap2022-01",
    "Patient?name:missing=true&_revinclude:iterate=Observation:subject&_cursor=abc&_offset=10",
]
for i, s in enumerate(spread(searches, 44)):
    write("search", bytes([i % 24]) + s.encode())
    write("url", "/fhir/acme/" + s)
for s in ["/fhir/acme/Patient?identifier=http://x|123&name=Lef%C3%A8vre", "/fhir/acme/Patient?a+b=c+d",
          "/fhir/acme/Patient?x=%2", "/fhir/acme/Patient?&&=&a", "a=1&b=2&c", "/fhir/acme/Patient/p1/_history/2",
          "/fhir/acme/Patient?name=\xc3\xa9 l\xc3\xa9a", "_id=p1,p2&_count=10"]:
    write("url", s)

# --- http_request: requests as a client sends them (first byte: the size of the reads).
reqs = [
    "GET /fhir/acme/Patient/p1 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer x.y.z\r\nAccept: application/fhir+json\r\n\r\n",
    "POST /fhir/acme/Patient HTTP/1.1\r\nHost: h\r\nContent-Type: application/fhir+json\r\nContent-Length: 27\r\n\r\n{\"resourceType\":\"Patient\"}\n",
    "POST /fhir/acme/Patient/_search HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 19\r\n\r\nname=l%C3%A9a+x&_c=",
    "PUT /fhir/acme/Patient/p1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nIf-Match: W/\"1\"\r\n\r\n5\r\n{\"res\r\n15;ext=1\r\nourceType\":\"Patient\"}\r\n0\r\nTrailer: x\r\n\r\n",
    "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /fhir/acme/metadata HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    "PATCH /fhir/acme/Patient/p1 HTTP/1.1\r\nHost: h\r\nContent-Type: application/json-patch+json\r\nContent-Length: 52\r\n\r\n[{\"op\":\"replace\",\"path\":\"/active\",\"value\":false}]\r\n",
    "GET /fhir/acme/Observation?subject:Patient.name=x&date=ge2022 HTTP/1.0\r\n\r\n",
    "DELETE /fhir/acme/Patient?identifier=x|1 HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nX-Purpose-Of-Use: TREAT\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\nX: " + "a" * 200 + "\r\n\tfolded\r\n\r\n",
    "POST /fhir/acme/ HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
]
for i, r in enumerate(reqs):
    write("http_request", bytes([[0, 1, 7, 63][i % 4]]) + r.encode())

# --- jwt: odd: header NUL payload, signed by the target ("$KID": its key id); even: tokens.
payload = {"iss": "https://hygie.example.test", "sub": "dr-house", "aud": "hygie", "tenant": "acme",
           "scope": "user/*.cruds", "role": "practitioner", "exp": 1700000300, "iat": 1699999990,
           "patient": "p1", "amr": ["pwd", "otp"], "acr": "eidas2", "jti": "j1"}
jwts = [
    ({"alg": "EdDSA", "typ": "at+jwt", "kid": "$KID"}, payload),
    ({"alg": "EdDSA", "kid": "$KID"}, dict(payload, aud=["x", "hygie"], nbf=1699999000)),
    ({"alg": "EdDSA", "kid": "$KID", "typ": "JWT"}, dict(payload, exp=1699999000)),
    ({"alg": "EdDSA", "kid": "$KID", "crit": ["b64"]}, payload),
    ({"alg": "EdDSA", "kid": "$KID"}, dict(payload, exp=1.7e9 + 0.5, tenant=7)),
    ({"alg": "none", "kid": "$KID"}, payload),
]
for h, p in jwts:
    write("jwt", b"\x01" + json.dumps(h, separators=(",", ":")).encode() + b"\0" + json.dumps(p, separators=(",", ":")).encode())
write("jwt", b"\x01" + b'{"alg":"EdDSA","kid":"$KID","kid":"x"}\0{"tenant":"a","tenant":"b"}')
import base64
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=")
for t in [b64(b'{"alg":"ES256"}') + b"." + b64(b'{"sub":"x"}') + b"." + b64(b"\0" * 64),
          b"eyJhbGciOiJFUzI1NiJ9.e30.", b"a.b.c.d", b"eyJhbGciOiJFUzI1NiJ9=.e30.AA", b"..", b"e30.e30.e31"]:
    write("jwt", b"\x00" + t)

# --- audit_record: the records of the tests (even: JSON text; odd: fields from bytes).
recs = [s for s in raw_strings("src/audit/record_test.cc") if s.startswith("{")]
for s in spread(recs, 30):
    write("audit_record", b"\x00" + s.encode())
for seed in [b"\x01" + bytes(range(256)), b"\x01" + b"acme\xff\xfe\x80" * 20, b"\x01"]:
    write("audit_record", seed)

# --- audit_checkpoint: hand-made bodies (form 2); corpus_gen adds signed ones.
for body in ["hygie/acme\n0\n" + base64.b64encode(bytes(32)).decode() + "\ntime 0\n",
             "hygie/acme\n18446744073709551615\n" + base64.b64encode(bytes(32)).decode() + "\ntime 9999999999\n",
             "hygie/acme\n01\n" + base64.b64encode(bytes(32)).decode() + "\ntime 1\n",
             "hygie/acme\n5\n" + base64.b64encode(bytes(31)).decode() + "\ntime 1\nextra\n"]:
    write("audit_checkpoint", b"\x02" + body.encode())

# --- audit_spool: files (control byte: which file | 0x80 to seal it; u16le length; bytes).
def spool_file(index, data, seal=True):
    data = data.encode() if isinstance(data, str) else data
    return bytes([index | (0x80 if seal else 0)]) + struct.pack("<H", len(data)) + data
rec = '{"i":0,"t":1700000000000000,"peer":"local","role":"cli","int":"tenant-create","act":"C","st":201}'
write("audit_spool", spool_file(2, '{"v":1,"n":1,"tree":"_system"}\n' + rec) + spool_file(0, '{"v":1,"counter":1}'))
write("audit_spool", spool_file(2, '{"v":1,"n":1,"tree":"acme"}\n' + rec) + spool_file(3, '{"v":1,"n":2,"tree":"acme"}\n' + rec)
      + spool_file(0, '{"v":1,"counter":3}') + spool_file(1, '{"v":1,"ingested":1,"last":[[1,"' + "0" * 64 + '"]]}'))
write("audit_spool", spool_file(4, '{"v":1,"n":2,"tree":"_system"}\n' + rec) + spool_file(6, "clear text", False))
write("audit_spool", spool_file(5, '{"v":1,"n":9,"tree":"_system"}\n' + rec, False) + spool_file(0, '{"v":1,"counter":9}'))

# --- backup_pack: bodies in the format of backup_format.h (form 0 parses, form 3 seals).
def version(seq, typ, rid, ver, ts, deleted, key, body):
    return (b"\x01" + struct.pack("<QQQBI", seq, ver, ts, deleted, key) + struct.pack("<H", len(typ)) + typ
            + struct.pack("<H", len(rid)) + rid + struct.pack("<I", len(body)) + body)
def chunk(name, off, data):
    return b"\x02" + struct.pack("<H", len(name)) + name + struct.pack("<QI", off, len(data)) + data
def body(entries):
    return b"HYGIEPK1" + struct.pack("<I", len(entries)) + b"".join(entries)
bodies = [body([]),
          body([version(1, b"Patient", b"p1", 1, 1700000000000000, 0, 1, b"\xaa" * 30)]),
          body([version(1, b"Patient", b"p1", 1, 1, 0, 1, b"x"), version(2, b"Patient", b"p1", 2, 2, 1, 1, b""),
                chunk(b"seg-00000000000000000000.log", 0, b"HYGIEJ1\n"), chunk(b"checkpoints.log", 8, b"\0\0\0\0")]),
          body([chunk(b"verifier.key", 0, b"hygie/acme+00000000+AQ==\n")])]
for b in bodies:
    write("backup_pack", b"\x00" + b)
    write("backup_pack", b"\x03" + b)

# --- s3_xml: answers as S3 (Ceph RGW) writes them.
ns = ' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
xmls = [
    '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>tx0</RequestId></Error>',
    '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult' + ns + '><Name>b</Name><Prefix>hygie-backup/</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated><Contents><Key>hygie-backup/v1/a/acme/manifest/00000000000000000000</Key><LastModified>2026-12-07T10:00:00.000Z</LastModified><ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>912</Size><StorageClass>STANDARD</StorageClass></Contents><Contents><Key>k2</Key><Size>0</Size><ETag>"x"</ETag></Contents></ListBucketResult>',
    '<ListBucketResult' + ns + '><IsTruncated>true</IsTruncated><NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken><Contents><Key>a</Key><Size>12</Size></Contents></ListBucketResult>',
    '<?xml version="1.0" encoding="UTF-8"?><ListVersionsResult' + ns + '><Name>b</Name><IsTruncated>false</IsTruncated><Version><Key>k</Key><VersionId>v1</VersionId><IsLatest>true</IsLatest><LastModified>2026-12-07T10:00:00.000Z</LastModified><ETag>"e"</ETag><Size>3</Size></Version><DeleteMarker><Key>k</Key><VersionId>v2</VersionId><IsLatest>false</IsLatest></DeleteMarker></ListVersionsResult>',
    '<ListVersionsResult><IsTruncated>true</IsTruncated><NextKeyMarker>k</NextKeyMarker><NextVersionIdMarker>v</NextVersionIdMarker></ListVersionsResult>',
    '<?xml version="1.0" encoding="UTF-8"?><ObjectLockConfiguration' + ns + '><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Days>30</Days></DefaultRetention></Rule></ObjectLockConfiguration>',
    '<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days>99999999999</Days></DefaultRetention></Rule></ObjectLockConfiguration>',
    '<!DOCTYPE a [<!ENTITY b "bbbbbbbbbb"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><Error><Code>&c;</Code></Error>',
    '<Error><Code>A</Code>' + '<x>' * 40 + '</x>' * 40 + '</Error>',
]
for i, x in enumerate(xmls):
    write("s3_xml", x)

# --- fhir_api: the first byte chooses the request (fuzz/fhir_api_fuzz.cc): bundles of the e2e
# tests posted to the base (0, 7), resources created, updated, validated (1, 2, 4), patches (3),
# searches as forms (5) and as targets (6).
for i, s in enumerate(spread(bundles, 10)):
    write("fhir_api", bytes([0 if i % 2 == 0 else 7]) + s.encode())
for i, s in enumerate(spread(resources, 12)):
    write("fhir_api", bytes([[1, 2, 4][i % 3]]) + s.encode())
for p in spread(pairs, 6):
    write("fhir_api", b"\x03" + p.split("\0", 1)[1].encode())
for i, s in enumerate(spread(searches, 12)):
    if i % 2 == 0 and s.startswith("Observation?"):
        write("fhir_api", b"\x05" + s.split("?", 1)[1].encode())
    else:
        write("fhir_api", b"\x06" + s.encode())
for t in ["Patient/p1", "Patient/p1/_history", "Patient/p1/$everything", "metadata", "_history?_count=2",
          "Patient/p1/_history/1", "AuditEvent?_count=1", "Patient?_id=p1&_revinclude=Observation:subject"]:
    write("fhir_api", b"\x06" + t.encode())
EOF
if [ -x "$BUILD/fuzz/corpus_gen" ]; then
  "$BUILD/fuzz/corpus_gen" fuzz/corpus
else
  echo "make_corpus: $BUILD/fuzz/corpus_gen is not built (make fuzz builds it); signed seeds skipped" >&2
fi
for d in fuzz/corpus/*/; do echo "$(basename "$d"): $(ls "$d" | wc -l) files"; done
du -sh fuzz/corpus
