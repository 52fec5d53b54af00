#!/usr/bin/env python3
"""Builds pii_eval.jsonl, the labelled evaluation set of the pii-scan engine.

The prompts below were written for this set (no text copied from the web).
`{ENTITY}` slots are filled with synthetic values: cards pass Luhn, IBANs
pass mod-97, SSNs avoid the never-issued ranges; everything else in the
text, including the hard negatives (invalid Luhn, bad IBAN checksums,
invalid SSN ranges, UUIDs, git SHAs, dates, versions, order numbers,
timestamps, placeholders, identifiers assigned to `*_key` names, words
about passwords), is written inline and is not labelled. Placeholders are
never secrets: `<password>`, `****`, `$API_TOKEN`, and `changeme` in
documentation that tells the reader to replace it. The templates after the
first block cover passwords in prose, config, URLs and shell commands in
nine languages, service tokens by their documented formats, random strings
assigned to loosely named keys, national and international phone formats,
URL-encoded emails, cards of every network and IBANs in groups of four.

Each output line: {"id": N, "lang": "..", "format": "..", "text": "...",
"spans": [{"entity": "EMAIL", "start": 3, "end": 20}]}, byte offsets into
the UTF-8 text. Run `python3 build.py` to regenerate (seeded, deterministic).
"""
import json, random, re, string

rng = random.Random(20240603)

FIRST = ["jane", "omar", "li", "sofia", "lukas", "chloe", "mateo", "amelie", "noah", "ines", "ravi", "greta", "tom", "lucia", "pierre", "anna"]
LAST = ["doe", "haddad", "wei", "rossi", "becker", "martin", "garcia", "dubois", "smith", "fernandez", "patel", "schulz", "nguyen", "lopez", "moreau", "kowalski"]
DOMAINS = ["example.com", "example.org", "firma-beispiel.de", "exemple.fr", "empresa-ejemplo.es", "corp.example.net", "mail.example.co.uk", "uni-beispiel.de"]

def email():
    f, l, d = rng.choice(FIRST), rng.choice(LAST), rng.choice(DOMAINS)
    return rng.choice([f"{f}.{l}@{d}", f"{f[0]}.{l}@{d}", f"{f}_{l}{rng.randint(1, 99)}@{d}", f"{f}+{rng.choice(['news', 'billing', 'dev'])}@{d}", f"{l}{f[0]}@{d}"]).lower()

def digits(n):
    return "".join(rng.choice(string.digits) for _ in range(n))

def nanp():
    area = f"{rng.randint(2, 9)}{digits(2)}"
    ex = f"{rng.randint(2, 9)}{digits(2)}"
    line = digits(4)
    return rng.choice([f"({area}) {ex}-{line}", f"{area}-{ex}-{line}", f"{area}.{ex}.{line}", f"+1 {area} {ex} {line}",
                       f"+1-{area}-{ex}-{line}", f"1-800-{ex}-{line}", f"+1 ({area}) {ex}-{line}", f"({area}){ex}-{line}"])

def intl():
    return rng.choice([
        f"+44 20 7946 {digits(4)}", f"+44 7700 900{digits(3)}", f"+49 30 {digits(7)}", f"+49 (0)89 {digits(4)}-{digits(4)}",
        f"+49 171 {digits(7)}", f"+33 1 {digits(2)} {digits(2)} {digits(2)} {digits(2)}", f"+33 6 {digits(2)} {digits(2)} {digits(2)} {digits(2)}",
        f"+34 91 {digits(3)} {digits(2)} {digits(2)}", f"+34 6{digits(2)} {digits(3)} {digits(3)}", f"+41 44 {digits(3)} {digits(2)} {digits(2)}",
        f"+31 20 {digits(3)} {digits(4)}", f"+39 06 {digits(4)} {digits(4)}", f"+4930{digits(7)}", f"+52 55 {digits(4)} {digits(4)}",
    ])

def fr_national():
    sep = rng.choice([" ", "."])
    return sep.join([f"0{rng.choice('1234567')}{rng.randint(0, 9)}"[:2]] + [digits(2) for _ in range(4)])

def de_national():
    return f"030 {digits(7)}"

def phone():
    r = rng.random()
    return nanp() if r < 0.5 else intl()

def ssn():
    while True:
        a, g, s = rng.randint(1, 899), rng.randint(1, 99), rng.randint(1, 9999)
        if a != 666:
            break
    sep = "-" if rng.random() < 0.85 else " "
    return f"{a:03d}{sep}{g:02d}{sep}{s:04d}"

def luhn_complete(prefix, length):
    body = prefix + digits(length - len(prefix) - 1)
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)

def card():
    kind = rng.choice(["visa", "visa", "mc", "mc2", "amex", "discover", "jcb"])
    if kind == "amex":
        n = luhn_complete(rng.choice(["34", "37"]), 15)
        groups = [n[:4], n[4:10], n[10:]]
    else:
        prefix = {"visa": "4", "mc": str(rng.randint(51, 55)), "mc2": str(rng.randint(2221, 2720)), "discover": "6011", "jcb": "35" + str(rng.randint(28, 89))}[kind]
        n = luhn_complete(prefix, 16)
        groups = [n[i:i + 4] for i in range(0, 16, 4)]
    style = rng.choice([" ", " ", "-", ""])
    return style.join(groups)

def bad_card():
    n = luhn_complete("4", 16)
    last = str((int(n[-1]) + rng.randint(1, 9)) % 10)
    return " ".join([n[:4], n[4:8], n[8:12], n[12:15] + last])

IBAN_LEN = {"DE": 22, "FR": 27, "ES": 24, "GB": 22, "NL": 18, "IT": 27, "CH": 21, "AT": 20, "BE": 16}

def iban_check(country, bban):
    rearranged = bban + country + "00"
    num = "".join(str(int(c, 36)) for c in rearranged)
    return f"{98 - int(num) % 97:02d}"

def bban(country):
    if country == "GB":
        return rng.choice(["NWBK", "BARC", "MIDL"]) + digits(14)
    if country == "NL":
        return rng.choice(["ABNA", "RABO", "INGB"]) + digits(10)
    if country == "FR":
        return digits(10) + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(11)) + digits(2)
    if country == "IT":
        return rng.choice(string.ascii_uppercase) + digits(10) + "".join(rng.choice(string.digits) for _ in range(12))
    return digits(IBAN_LEN[country] - 4)

def iban_compact(country=None):
    country = country or rng.choice(list(IBAN_LEN))
    b = bban(country)
    return country + iban_check(country, b) + b

def iban():
    value = iban_compact()
    if rng.random() < 0.6:
        value = " ".join(value[i:i + 4] for i in range(0, len(value), 4))
    return value

def bad_iban():
    value = iban_compact("DE")
    wrong = value[:-1] + str((int(value[-1]) + 1) % 10)
    return " ".join(wrong[i:i + 4] for i in range(0, len(wrong), 4))

def ipv4():
    return rng.choice([f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}", f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                       f"172.{rng.randint(16, 31)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}", f"{rng.randint(11, 99)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                       f"203.0.113.{rng.randint(1, 254)}", f"198.51.100.{rng.randint(1, 254)}", "127.0.0.1"])

def ipv6():
    h = lambda: f"{rng.randint(0, 0xffff):x}"
    return rng.choice([f"2001:db8:{h()}:{h()}::{h()}", f"fe80::{h()}:{h()}:{h()}:{h()}", f"2a00:1450:4001:{h()}::{h()}", "::1",
                       f"fd12:3456:789a:{h()}::{h()}", ":".join(h() for _ in range(8))])

def ip():
    return ipv4() if rng.random() < 0.7 else ipv6()

def b62(n):
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))

def b64url(n):
    return "".join(rng.choice(string.ascii_letters + string.digits + "-_") for _ in range(n))

def jwt():
    return "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + "eyJ" + b64url(rng.randint(30, 60)) + "." + b64url(43)

def pem():
    lines = "\n".join(b62(64) for _ in range(rng.randint(3, 6)))
    kind = rng.choice(["RSA ", "EC ", "", "OPENSSH "])
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{lines}\n-----END {kind}PRIVATE KEY-----"

def prefixed_secret():
    return rng.choice([
        lambda: "sk-proj-" + b64url(rng.randint(60, 100)),
        lambda: "sk-" + b62(48),
        lambda: "sk-ant-api03-" + b64url(93) + "AA",
        lambda: "ghp_" + b62(36),
        lambda: "github_pat_11" + b62(20) + "_" + b62(59),
        lambda: "xoxb-" + digits(12) + "-" + digits(13) + "-" + b62(24),
        lambda: "AIza" + b64url(35),
        lambda: "AKIA" + "".join(rng.choice(string.ascii_uppercase + "234567") for _ in range(16)),
        jwt,
    ])()

def aws_secret():
    return "".join(rng.choice(string.ascii_letters + string.digits + "/+") for _ in range(38)) + rng.choice("ABCDEFGH") + rng.choice("0123456789")

def password():
    words = ["Sommer", "Blue", "Tiger", "Soleil", "Luna", "Falcon", "Nieve", "Orange", "Winter", "Kaffee"]
    return rng.choice(words) + rng.choice(["!", "#", "-", "_", "$"]) + str(rng.randint(10, 9999)) + rng.choice(["", "x", "?", "Q"])

GEN = {"EMAIL": email, "PHONE": phone, "NANP": nanp, "INTL": intl, "FRPHONE": fr_national, "DENATIONAL": de_national, "US_SSN": ssn, "CREDIT_CARD": card,
       "IBAN": iban, "IP_ADDRESS": ip, "IPV4": ipv4, "IPV6": ipv6, "SECRET": prefixed_secret, "JWT": jwt, "PEM": pem,
       "AWS_SECRET": aws_secret, "PASSWORD": password}
ENTITY = {"DENATIONAL": "PHONE", "NANP": "PHONE", "INTL": "PHONE", "FRPHONE": "PHONE", "IPV4": "IP_ADDRESS", "IPV6": "IP_ADDRESS", "JWT": "SECRET", "PEM": "SECRET",
          "AWS_SECRET": "SECRET", "PASSWORD": "SECRET"}
# Inline fillers that are NOT labelled (hard negatives).
NEG = {"BADCARD": bad_card, "BADIBAN": bad_iban, "UUID": lambda: "%08x-%04x-4%03x-a%03x-%012x" % (rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(12), rng.getrandbits(12), rng.getrandbits(48)),
       "SHA": lambda: "%040x" % rng.getrandbits(160), "SHORTSHA": lambda: "%07x" % rng.getrandbits(28),
       "BADSSN": lambda: rng.choice(["000", "666", str(rng.randint(900, 999))]) + f"-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}"}

TEMPLATES = [
    # (lang, format, text)
    ("en", "prose", "Hi, I'm {EMAIL} and my number is {NANP}. Please update the CRM record created on 2024-02-11 (ticket #48213)."),
    ("en", "prose", "Can you draft a reply to {EMAIL}? Mention that the refund for order 2024-118-3342 goes to card {CREDIT_CARD} within 5-7 business days."),
    ("en", "prose", "My SSN is {US_SSN} and my wife's is {US_SSN}. We filed jointly for 2023; the preparer's id is P01234567."),
    ("en", "prose", "The server at {IPV4} keeps timing out since the v2.14.3 rollout at 09:42:17 UTC; the fallback at {IPV4} is fine."),
    ("en", "prose", "Summarise this complaint: customer {EMAIL} says she was charged twice on {CREDIT_CARD}, amount $1,249.99, ref INV-88120."),
    ("en", "prose", "Call me at {NANP} or text {NANP} after 6pm. Don't use the old fax, it's disconnected."),
    ("en", "prose", "Here is our OpenAI key, please check why it fails: {SECRET} (created 2024-05-02, project alpha-7)."),
    ("en", "prose", "Use the test card 4111 1111 1111 1112? No wait, that one fails Luhn. The real one on file is {CREDIT_CARD}."),
    ("en", "prose", "Transfer the deposit to IBAN {IBAN}, not to {BADIBAN} which bounced last week."),
    ("en", "prose", "I was told SSNs like {BADSSN} are never issued, but mine, {US_SSN}, was rejected by the portal anyway."),
    ("en", "code", "import openai\nclient = openai.OpenAI(api_key=\"{SECRET}\")\n# TODO: move to env, see commit {SHA}\n"),
    ("en", "code", "const cfg = {\n  apiKey: process.env.API_KEY,\n  fallbackKey: 'sk-...',\n  dbPassword: \"{PASSWORD}\",\n  host: \"{IPV4}\",\n};\n"),
    ("en", "code", "# .env\nDATABASE_URL=postgres://app@db.internal:5432/app\nDB_PASSWORD={PASSWORD}\nSTRIPE_KEY=YOUR_STRIPE_KEY\nGITHUB_TOKEN={SECRET}\n"),
    ("en", "code", "curl -H \"Authorization: Bearer {JWT}\" https://api.example.com/v1/users/{UUID}"),
    ("en", "code", "def connect():\n    password = getpass.getpass()\n    token = os.environ[\"TOKEN\"]\n    return Client(host=\"{IPV4}\", port=8443, password=password)\n"),
    ("en", "code", "aws configure set aws_access_key_id {SECRET}\naws configure set aws_secret_access_key {AWS_SECRET}\n"),
    ("en", "code", "Why does ssh reject this key?\n{PEM}\nIt worked on build 20240315.2 yesterday."),
    ("en", "json", "{\"user\": {\"email\": \"{EMAIL}\", \"phone\": \"{PHONE}\", \"ssn\": \"{US_SSN}\"}, \"request_id\": \"{UUID}\", \"version\": \"3.2.1\"}"),
    ("en", "json", "{\"model\": \"gpt-4o-mini\", \"max_tokens\": 1024, \"temperature\": 0.7, \"metadata\": {\"client_ip\": \"{IPV4}\", \"trace\": \"{SHORTSHA}\"}}"),
    ("en", "json", "{\"type\": \"service_account\", \"client_email\": \"{EMAIL}\", \"private_key\": \"{PEMINLINE}\", \"token_uri\": \"https://oauth2.example.com/token\"}"),
    ("en", "json", "[{\"name\": \"Slack bot\", \"token\": \"{SECRET}\"}, {\"name\": \"placeholder\", \"token\": \"<token>\"}, {\"name\": \"ci\", \"password\": \"xxxx\"}]"),
    ("en", "logs", "2024-06-03T10:15:22.381Z WARN auth failed for {EMAIL} from {IPV4} (attempt 3/5, session {UUID})"),
    ("en", "logs", "Jun 03 10:15:23 gw-01 sshd[2231]: Accepted publickey for deploy from {IPV6} port 51514 ssh2: RSA SHA256:{SHORTSHA}"),
    ("en", "logs", "[2024-06-03 10:16:01] payment.declined card={CREDIT_CARD} amount=42.00 currency=USD order=ORD-2024-004512 latency_ms=184"),
    ("en", "logs", "level=info msg=\"upstream connected\" peer={IPV4}:443 tls=1.3 build=1.40.2 commit={SHA} uptime=3d4h"),
    ("en", "csv", "name,email,phone,ssn\nJane Roe,{EMAIL},{NANP},{US_SSN}\nOmar Haddad,{EMAIL},{NANP},{US_SSN}\nTest User,test@invalid,555-0100,000-00-0000\n"),
    ("en", "csv", "date,account,iban,amount\n2024-05-01,ACME GmbH,{IBAN},1200.00\n2024-05-02,Dubois SARL,{IBAN},980.50\n2024-05-03,Unknown,{BADIBAN},10.00\n"),
    ("en", "prose", "The new GPU box is at {IPV6}; the old one was 10.0.0.300 (typo in the wiki, it doesn't exist). Ping me at {EMAIL}."),
    ("en", "prose", "Draft a polite decline to {EMAIL}. Context: their quote Q-2024-0611 for 1,250 units at $3.75 expired on 06/11/2024."),
    ("en", "prose", "Our Google Maps key {SECRET} was leaked in the frontend bundle v5.2.0; rotate it and tell {EMAIL}."),
    ("en", "markdown", "| Field | Value |\n|---|---|\n| Contact | {EMAIL} |\n| Phone | {PHONE} |\n| Card | {CREDIT_CARD} |\n| Build | 2.8.1-rc3 |\n"),
    ("de", "prose", "Hallo, bitte schreibe eine Antwort an {EMAIL}. Die Rechnung Nr. 2024/0815 vom 03.04.2024 ist noch offen; erreichbar unter {INTL}."),
    ("de", "prose", "Meine IBAN lautet {IBAN}, BIC DEUTDEFFXXX. Bitte überweise die Kaution bis zum 15.07.2024."),
    ("de", "prose", "Kannst du prüfen, warum der Login scheitert? Benutzer {EMAIL}, Passwort: {PASSWORD}, Server {IPV4}."),
    ("de", "prose", "Der Kunde hat seine Kreditkarte {CREDIT_CARD} gesperrt; die alte Nummer {BADCARD} bitte löschen. Rückruf unter {INTL}."),
    ("de", "prose", "Im Anhang die Logdatei. Fehler trat um 14:32:05 auf, Version 4.1.7, Auftrag 4711-0815-42, Host {IPV4}."),
    ("de", "json", "{\"kunde\": \"Müller\", \"email\": \"{EMAIL}\", \"telefon\": \"{INTL}\", \"iban\": \"{IBAN}\", \"kundennummer\": \"KD-2024-77812\"}"),
    ("de", "code", "# Konfiguration\nSMTP_HOST=mail.firma-beispiel.de\nSMTP_USER={EMAIL}\nSMTP_PASSWORD={PASSWORD}\nSMTP_PORT=587\n"),
    ("de", "csv", "Name;E-Mail;Telefon;IBAN\nLukas Becker;{EMAIL};{INTL};{IBAN}\nGreta Schulz;{EMAIL};{INTL};{IBAN}\n"),
    ("de", "prose", "Mein Handy: {INTL}. Festnetz bitte nicht nutzen. Sozialversicherungsnummer habe ich keine US-SSN, nur 65 170839 J 003."),
    ("fr", "prose", "Bonjour, pouvez-vous répondre à {EMAIL} ? Le client attend un devis avant vendredi ; son numéro est le {FRPHONE}."),
    ("fr", "prose", "Voici mon RIB : {IBAN}. Merci de ne pas utiliser l'ancien compte, clôturé le 31/12/2023."),
    ("fr", "prose", "Le mot de passe du Wi-Fi invité est {PASSWORD}, et l'adresse de la box est {IPV4}."),
    ("fr", "prose", "Résume ce ticket : l'utilisateur {EMAIL} (tél. {FRPHONE}) signale une erreur 502 depuis la version 3.4.0."),
    ("fr", "json", "{\"nom\": \"Dubois\", \"courriel\": \"{EMAIL}\", \"tel\": \"{INTL}\", \"carte\": \"{CREDIT_CARD}\", \"commande\": \"CMD-2024-00917\"}"),
    ("fr", "logs", "2024-06-03 11:02:44,120 ERREUR connexion refusée pour {EMAIL} depuis {IPV4} (id {UUID})"),
    ("fr", "csv", "nom,courriel,téléphone\nAmélie Martin,{EMAIL},{FRPHONE}\nPierre Moreau,{EMAIL},{INTL}\n"),
    ("es", "prose", "Hola, ¿puedes contestar a {EMAIL}? Quiere saber si el pedido 2024-55-1234 llegó; su móvil es {INTL}."),
    ("es", "prose", "Mi tarjeta es la {CREDIT_CARD} y la cuenta para la devolución es {IBAN}. Gracias."),
    ("es", "prose", "La contraseña: {PASSWORD} dejó de funcionar después de la actualización 2.3.9 del 12/05/2024."),
    ("es", "prose", "El servidor {IPV4} responde lento; el de respaldo {IPV6} está bien. Escríbeme a {EMAIL}."),
    ("es", "json", "{\"nombre\": \"Lucía López\", \"correo\": \"{EMAIL}\", \"telefono\": \"{INTL}\", \"iban\": \"{IBAN}\", \"factura\": \"F-2024-000381\"}"),
    ("es", "code", "db:\n  host: {IPV4}\n  user: app\n  password: \"{PASSWORD}\"\n  pool: 10\napi:\n  key: TU_API_KEY\n"),
    ("en", "prose", "Please anonymise: Patient John Q. Public, DOB 04/12/1980, SSN {US_SSN}, phone {NANP}, email {EMAIL}."),
    ("en", "prose", "Placeholders only: api_key=YOUR_API_KEY, token=<your-token>, password=********, sk-xxxxxxxxxxxxxxxxxxxx, AKIAXXXXXXXXXXXXXXXX."),
    ("en", "prose", "Hash check: {SHA} vs {SHA}; UUIDs {UUID} and {UUID}; released 2024-03-15T09:45:12Z as v10.2.0."),
    ("en", "prose", "Order numbers 2024-0001-7734, 123-45-67890 and 4000-1234-5678 are internal ids, not PII. ISBN 978-3-16-148410-0."),
    ("en", "prose", "The staging key is {SECRET} and prod uses a different one. Also our Slack bot posts as {EMAIL}."),
    ("en", "yaml", "smtp:\n  host: smtp.example.com\n  username: {EMAIL}\n  password: {PASSWORD}\nretries: 3\ntimeout: 30s\n"),
    ("en", "prose", "Wire from {IBAN} to {IBAN} failed with code 6612-88; retry after 10:30."),
    ("en", "prose", "My cards: {CREDIT_CARD} (personal) and {CREDIT_CARD} (company). Expiry 09/27 and 11/26."),
    ("en", "prose", "Reach support at {INTL} or {NANP}; our office is at 1600 Example Ave, Suite 400, zip 94043."),
    ("en", "prose", "Firewall rule: allow {IPV4}/32 and {IPV4}/24 to port 5432; deny 0.0.0.0/0 otherwise. Version 1.2.3.4 of the agent ignores this."),
    ("en", "code", "ssh -i ~/.ssh/id_ed25519 admin@{IPV4} 'systemctl restart api' # host key SHA256:{SHORTSHA}"),
    ("en", "prose", "Token for the webhook: {JWT}. It expires at 1717411200 (unix time)."),
    ("en", "prose", "These are the numbers you asked for: {PHONE}, {PHONE}, {PHONE}."),
    ("en", "prose", "Please check whether {BADCARD} is a valid card; the customer also sent {CREDIT_CARD}."),
    ("de", "prose", "Bitte sende die Unterlagen an {EMAIL} und ruf {INTL} an, falls Fragen sind; Aktenzeichen 12 O 345/23."),
    ("fr", "prose", "Appelez le {FRPHONE} ou écrivez à {EMAIL}. Référence dossier 2024-FR-00123."),
    ("de", "prose", "Rückruf bitte unter {DENATIONAL} (Festnetz, Berlin), nicht unter der Zentrale. Vorgang 2024-DE-0042."),
    ("es", "csv", "fecha;cliente;correo;teléfono\n2024-05-01;Mateo García;{EMAIL};{INTL}\n2024-05-02;Inés Fernández;{EMAIL};{INTL}\n"),
]


# --- Passwords, service tokens, keyed random strings, national phones ---

WORDS = ["lantern", "meadow", "copper", "violin", "harbor", "pepper", "glacier", "orbit", "maple", "thunder", "velvet", "canyon",
         "ember", "nimbus", "quartz", "saffron", "walnut", "pebble", "falcon", "cobalt", "tundra", "marble", "juniper", "cactus"]

def passphrase():
    w = rng.sample(WORDS, 4)
    return rng.choice(["-".join(w), ".".join(w), "".join(x.capitalize() for x in w[:3]) + str(rng.randint(10, 99)),
                       "_".join(w[:3]) + str(rng.randint(1, 9)), w[0] + str(rng.randint(100, 9999))])

def spaced_passphrase():
    return " ".join(rng.sample(WORDS, rng.randint(3, 5)))

def url_password():
    return rng.choice([lambda: b62(rng.randint(10, 20)), lambda: rng.choice(WORDS).capitalize() + "-" + digits(3) + rng.choice(["x", "Q", "z"]),
                       lambda: rng.choice(WORDS) + "_" + b62(6), lambda: rng.choice(WORDS) + "%21" + digits(4)])()

def hexs(n):
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))

def b64(n):
    return "".join(rng.choice(string.ascii_letters + string.digits + "+/") for _ in range(n))

def discord():
    return rng.choice(["MT", "OD", "Nz", "OT"]) + b64url(rng.randint(22, 24)) + "." + b64url(6) + "." + b64url(rng.randint(27, 38))

def service_token():
    return rng.choice([
        lambda: "hf_" + "".join(rng.choice(string.ascii_letters) for _ in range(34)),
        lambda: "SG." + b64url(22) + "." + b64url(43),
        lambda: rng.choice(["xoxb-", "xoxp-", "xoxr-"]) + digits(11) + "-" + digits(12) + "-" + b62(24),
        lambda: "xoxa-2-" + digits(11) + "-" + digits(12) + "-" + hexs(32),
        lambda: "SK" + hexs(32),
        lambda: "AC" + hexs(32),
        lambda: rng.choice(["sk_live_", "rk_live_", "sk_test_"]) + b62(rng.choice([24, 34, 99])),
        lambda: "npm_" + b62(36),
        lambda: "pypi-AgEIcHlwaS5vcmc" + b64url(rng.randint(50, 120)),
        lambda: rng.choice(["ghp_", "gho_", "ghs_"]) + b62(36),
        lambda: "github_pat_11" + b62(20) + "_" + b62(59),
        lambda: "glpat-" + b64url(20),
        lambda: rng.choice(["AKIA", "ASIA"]) + "".join(rng.choice(string.ascii_uppercase + "234567") for _ in range(16)),
        lambda: "AIza" + b64url(35),
        lambda: "key-" + hexs(32),
        discord,
        lambda: rng.choice(["dop_v1_", "doo_v1_"]) + hexs(64),
        lambda: rng.choice(["shpat_", "shpss_", "shpca_"]) + hexs(32),
        lambda: "sk-ant-api03-" + b64url(93) + "AA",
    ])()

def telegram():
    return digits(rng.choice([9, 10])) + ":AA" + b64url(33)

def keyed_random():
    return rng.choice([lambda: hexs(rng.choice([32, 40, 64])), lambda: b64(rng.choice([32, 43])) + "=", lambda: b62(rng.choice([24, 32, 40])),
                       lambda: b64url(rng.choice([32, 43]))])()

def azure_key():
    return b64(86) + "=="

def ci_token():
    return hexs(40)

def travis_token():
    return b62(22)

def grouped(n, sizes, sep):
    out, p = [], 0
    for s in sizes:
        out.append(n[p:p + s])
        p += s
    return sep.join(out)

def national():
    sep = rng.choice([" ", "-"])
    return rng.choice([
        lambda: f"030 {digits(7)}", lambda: f"0171 {digits(7)}", lambda: f"0171-{digits(7)}", lambda: f"(030) {digits(8)}",
        lambda: f"089 {digits(4)} {digits(4)}", lambda: f"0221 {digits(6)}", lambda: f"0664 {digits(7)}",
        lambda: f"020 7946 {digits(4)}", lambda: f"07700 900{digits(3)}", lambda: f"0161 496 {digits(4)}", lambda: f"01632 960{digits(3)}",
        lambda: f"020-{digits(7)}", lambda: f"06-{digits(8)}", lambda: f"06 {digits(8)}", lambda: f"010 {digits(3)} {digits(4)}",
        lambda: f"06 {digits(4)} {digits(4)}", lambda: f"02 {digits(8)}", lambda: f"044 {digits(3)} {digits(2)} {digits(2)}",
        lambda: f"079 {digits(3)} {digits(2)} {digits(2)}", lambda: f"08-{digits(3)} {digits(3)} {digits(2)}",
        lambda: f"070-{digits(3)} {digits(2)} {digits(2)}", lambda: f"02 {digits(3)} {digits(2)} {digits(2)}",
        lambda: f"0470 {digits(2)} {digits(2)} {digits(2)}", lambda: f"022 {digits(4)} {digits(4)}",
        lambda: f"0{rng.choice('67')}{sep}{digits(2)}{sep}{digits(2)}{sep}{digits(2)}{sep}{digits(2)}",
    ])()

def asian():
    return rng.choice([
        lambda: f"03-{digits(4)}-{digits(4)}", lambda: f"090-{digits(4)}-{digits(4)}", lambda: f"06-6{digits(3)}-{digits(4)}",
        lambda: f"0120-{digits(3)}-{digits(3)}", lambda: f"(03) {digits(4)}-{digits(4)}", lambda: f"080 {digits(4)} {digits(4)}",
        lambda: f"010-{digits(4)}-{digits(4)}", lambda: f"02-{digits(3)}-{digits(4)}", lambda: f"031-{digits(3)}-{digits(4)}",
        lambda: f"010-{digits(8)}", lambda: f"021-{digits(4)} {digits(4)}", lambda: f"0755-{digits(8)}",
    ])()

def bare_national():
    return rng.choice([f"0171{digits(7)}", f"06{digits(8)}", f"090{digits(8)}", f"020{digits(8)}", f"0{rng.randint(1, 7)}{digits(8)}"])

def mobile_no_trunk():
    return rng.choice([
        lambda: f"6{digits(2)} {digits(3)} {digits(3)}", lambda: f"91{digits(1)} {digits(3)} {digits(3)}", lambda: f"5{digits(2)} {digits(3)} {digits(3)}",
        lambda: f"3{digits(2)} {digits(3)} {digits(4)}", lambda: f"1{rng.choice('3589')}{digits(1)} {digits(4)} {digits(4)}",
        lambda: f"1{rng.choice('3589')}{digits(9)}", lambda: f"{rng.choice('6789')}{digits(4)} {digits(5)}",
        lambda: f"(11) 9{digits(4)}-{digits(4)}", lambda: f"(21) 3{digits(3)}-{digits(4)}",
    ])()

def intl_any():
    return rng.choice([
        lambda: f"+44 (0)20 7946 {digits(4)}", lambda: f"+81-3-{digits(4)}-{digits(4)}", lambda: f"+81 90 {digits(4)} {digits(4)}",
        lambda: f"+86 138 {digits(4)} {digits(4)}", lambda: f"+82 10-{digits(4)}-{digits(4)}", lambda: f"+91 9{digits(4)} {digits(5)}",
        lambda: f"+55 11 9{digits(4)}-{digits(4)}", lambda: f"+351 912 {digits(3)} {digits(3)}", lambda: f"+48 512 {digits(3)} {digits(3)}",
        lambda: f"+46 8 {digits(3)} {digits(3)} {digits(2)}", lambda: f"+39 333 {digits(3)} {digits(4)}", lambda: f"+31 6 {digits(8)}",
        lambda: f"+41 79 {digits(3)} {digits(2)} {digits(2)}", lambda: f"+43 664 {digits(7)}", lambda: f"+32 470 {digits(2)} {digits(2)} {digits(2)}",
        lambda: f"0044 20 7946 {digits(4)}", lambda: f"+4420794{digits(5)}", lambda: f"+49-171-{digits(7)}", lambda: f"+33.6.{digits(2)}.{digits(2)}.{digits(2)}.{digits(2)}",
        lambda: f"+65 {rng.choice('89')}{digits(3)} {digits(4)}", lambda: f"+852 {digits(4)} {digits(4)}", lambda: f"+61 4{digits(2)} {digits(3)} {digits(3)}",
    ])()

def url_email():
    return email().replace("@", "%40").replace("+", "%2B")

def card_any():
    kind = rng.choice(["visa", "visa13", "visa19", "mc", "mc2", "amex", "discover", "discover65", "jcb", "unionpay", "unionpay19", "diners", "maestro"])
    if kind == "amex":
        return grouped(luhn_complete(rng.choice(["34", "37"]), 15), [4, 6, 5], rng.choice([" ", "-", " "]))
    if kind == "diners":
        return grouped(luhn_complete("36", 14), [4, 6, 4], rng.choice([" ", "-"]))
    length = {"visa13": 13, "visa19": 19, "unionpay19": 19}.get(kind, 16)
    prefix = {"visa": "4", "visa13": "4", "visa19": "4", "mc": str(rng.randint(51, 55)), "mc2": str(rng.randint(2221, 2720)), "discover": "6011",
              "discover65": "65", "jcb": str(rng.randint(3528, 3589)), "unionpay": "62" + str(rng.randint(30, 99)), "unionpay19": "6212", "maestro": "6759"}[kind]
    n = luhn_complete(prefix, length)
    if length == 13:
        return n
    sep = rng.choice([" ", "-", "", " "])
    return grouped(n, [4] * (length // 4) + ([length % 4] if length % 4 else []), sep)

def bad_luhn_ids():
    n = luhn_complete("5", 16)
    wrong = n[:-1] + str((int(n[-1]) + rng.randint(1, 9)) % 10)
    return grouped(wrong, [4, 4, 4, 4], rng.choice([" ", "-"]))

def iban_any():
    country = rng.choice(["DE", "FR", "ES", "GB", "NL", "IT", "CH", "AT", "BE", "PL", "PT", "SE", "NO"])
    if country not in IBAN_LEN:
        b = digits({"PL": 24, "PT": 21, "SE": 20, "NO": 11}[country])
        value = country + iban_check(country, b) + b
    else:
        value = iban_compact(country)
    return " ".join(value[i:i + 4] for i in range(0, len(value), 4)) if rng.random() < 0.8 else value

def ssn_bare():
    while True:
        a, g, s = rng.randint(1, 899), rng.randint(1, 99), rng.randint(1, 9999)
        if a != 666:
            return f"{a:03d}{g:02d}{s:04d}"

GEN.update({"PASSPHRASE": passphrase, "SPACEDPHRASE": spaced_passphrase, "URLPW": url_password, "TOKEN": service_token, "TELEGRAM": telegram,
            "KEYED": keyed_random, "AZUREKEY": azure_key, "CITOKEN": ci_token, "TRAVIS": travis_token, "NATIONAL": national, "ASIAN": asian,
            "BARENAT": bare_national, "MOBILE": mobile_no_trunk, "INTLANY": intl_any, "URLEMAIL": url_email, "CARDANY": card_any,
            "IBANANY": iban_any, "SSNBARE": ssn_bare})
ENTITY.update({"PASSPHRASE": "SECRET", "SPACEDPHRASE": "SECRET", "URLPW": "SECRET", "TOKEN": "SECRET", "TELEGRAM": "SECRET", "KEYED": "SECRET",
               "AZUREKEY": "SECRET", "CITOKEN": "SECRET", "TRAVIS": "SECRET", "NATIONAL": "PHONE", "ASIAN": "PHONE", "BARENAT": "PHONE",
               "MOBILE": "PHONE", "INTLANY": "PHONE", "URLEMAIL": "EMAIL", "CARDANY": "CREDIT_CARD", "IBANANY": "IBAN", "SSNBARE": "US_SSN"})
NEG.update({"BADLUHN": bad_luhn_ids, "SHA256": lambda: hexs(64), "HEX32": lambda: hexs(32), "DATE": lambda: rng.choice(["2024-06-03", "03.06.2024", "06/03/2024", "2024/06/03", "03-06-2024"]),
            "VERSION": lambda: f"{rng.randint(0, 4)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}", "AMOUNT": lambda: rng.choice(["1 234 567,89 €", "€1,234.50", "12.500,00 EUR", "¥128,000", "R$ 1.299,90"]),
            "ORDERNO": lambda: rng.choice([f"0{digits(3)}-{digits(4)}-{digits(4)}", f"{digits(4)}-{digits(4)}-{digits(4)}", f"0{digits(4)} {digits(5)}", f"{digits(3)} {digits(3)} {digits(3)}"]),
            "EPOCH": lambda: str(rng.randint(1600000000, 1760000000)), "IDENT": lambda: rng.choice(["user_profile_settings", "createdAtTimestamp", "order_items_v2", "tenant_id", "customerAccountReference", "session-cache-key"])})

NEW_TEMPLATES = [
    # Passwords and passphrases in prose
    ("en", "prose", "My password is {PASSWORD} and I keep getting locked out since the 4.2.0 update. Can you write to IT for me?"),
    ("en", "prose", "The password for the staging VPN is {PASSPHRASE}, please don't share it outside the team (ticket #5512)."),
    ("en", "prose", "I changed the wifi password to {PASSPHRASE} yesterday; the old one was printed on the router."),
    ("en", "prose", "Use the passphrase \"{SPACEDPHRASE}\" to unlock the backup archive from {DATE}."),
    ("en", "prose", "Our shared admin password was {PASSWORD} until the audit on {DATE}. Draft a note asking everyone to rotate."),
    ("en", "prose", "New passphrase: {PASSPHRASE}. Is it strong enough? My current password is {PASSWORD}."),
    ("en", "prose", "Reminder: the password is required, the password is case-sensitive and passwords are stored as bcrypt hashes. Never log them."),
    ("en", "prose", "The token is valid for 24 hours and the secret is rotated monthly; the password policy asks for 12 characters."),
    ("en", "docs", "Set the password to <password> in config.yml (replace changeme with your own). The default password is changeme; change it before first use."),
    ("de", "prose", "Das Passwort für den Router lautet {PASSWORD}, bitte nach dem Umzug am {DATE} ändern."),
    ("de", "prose", "Mein neues Passwort ist {PASSPHRASE}. Kannst du eine Mail an die IT formulieren, dass es nicht funktioniert?"),
    ("de", "prose", "Kennwort: {PASSWORD} (Benutzer admin, Server {IPV4}). Das alte Kennwort ist abgelaufen."),
    ("de", "prose", "Das Passwort ist abgelaufen und muss mindestens 12 Zeichen haben; Passwörter werden gehasht gespeichert."),
    ("fr", "prose", "Le mot de passe du compte partagé est {PASSWORD}, merci de le changer après la réunion du {DATE}."),
    ("fr", "prose", "Mon mot de passe : {PASSPHRASE}. Pourquoi la connexion échoue depuis la version {VERSION} ?"),
    ("fr", "prose", "Le mot de passe est incorrect ou expiré ; le mot de passe doit contenir 12 caractères."),
    ("es", "prose", "La contraseña del wifi es {PASSWORD} y la contraseña del router es {PASSPHRASE}. ¿Puedes redactar un aviso?"),
    ("es", "prose", "Mi contraseña: {PASSWORD}. No funciona desde el {DATE}, pedido {ORDERNO}."),
    ("es", "prose", "La contraseña es demasiado corta y la contraseña anterior no se puede reutilizar."),
    ("pt", "prose", "A senha do servidor é {PASSWORD}, e o usuário é admin. Pode escrever um e-mail para {EMAIL}?"),
    ("pt", "prose", "Minha senha: {PASSPHRASE}. O acesso falha desde a versão {VERSION}; meu telefone é {INTLANY}."),
    ("pt", "prose", "A senha é inválida ou expirou; a senha deve ter pelo menos 10 caracteres."),
    ("it", "prose", "La password del wifi è {PASSWORD}, e la password del NAS è {PASSPHRASE}. Mi scrivi un promemoria?"),
    ("it", "prose", "Password: {PASSWORD} — l'accesso non funziona dalla versione {VERSION}. Chiamami al {NATIONAL}."),
    ("it", "prose", "La password è scaduta e la password deve avere almeno 12 caratteri."),
    ("nl", "prose", "Het wachtwoord is {PASSWORD} en de gebruikersnaam is beheer. Kun je een mail aan {EMAIL} schrijven?"),
    ("nl", "prose", "Mijn wachtwoord: {PASSPHRASE}. Het werkt niet meer sinds {DATE}; bel me op {NATIONAL}."),
    ("nl", "prose", "Het wachtwoord is verlopen en het wachtwoord moet minstens 12 tekens bevatten."),
    ("ja", "prose", "パスワードは {PASSWORD} です。ログインできないので、{EMAIL} に連絡してください。"),
    ("ja", "prose", "パスワード：{PASSPHRASE}（管理者用）。バージョン {VERSION} から接続できません。"),
    ("ja", "prose", "パスワードは8文字以上で、パスワードは定期的に変更してください。"),
    ("pl", "prose", "Hasło do serwera to {PASSWORD}, a login to admin. Napisz proszę wiadomość do {EMAIL}."),
    ("pl", "prose", "Hasło: {PASSPHRASE}. Nie działa od {DATE}; mój telefon to {MOBILE}."),
    # Passwords in config, JSON, shells and connection strings
    ("en", "code", "DB_HOST=db.internal\nDB_USER=app\nDB_PASS={PASSWORD}\nDB_NAME=orders\nDB_POOL=10\n"),
    ("en", "code", "[database]\nhost = \"db.internal\"\nuser = \"app\"\npassword = \"{SPACEDPHRASE}\"\nport = 5432\n"),
    ("en", "code", "DATABASE_URL=postgres://app:{URLPW}@db.internal:5432/orders?sslmode=require\nREDIS_URL=redis://cache.internal:6379/0\n"),
    ("en", "code", "engine = create_engine(\"mysql+pymysql://report:{URLPW}@{IPV4}/analytics\")  # commit {SHA}\n"),
    ("en", "code", "mongo \"mongodb+srv://admin:{URLPW}@cluster0.example.net/test\" --eval 'db.stats()'"),
    ("en", "shell", "mysql -u root -p{PASSWORD} -h db.internal orders < dump_{DATE}.sql"),
    ("en", "shell", "mysqldump --user=backup --password={PASSWORD} --single-transaction shop > shop.sql"),
    ("en", "shell", "pg_dump \"postgresql://backup:{URLPW}@db-replica.internal:5432/shop\" > shop.sql && gzip shop.sql"),
    ("en", "shell", "sshpass -p '{PASSWORD}' ssh deploy@{IPV4} 'sudo systemctl restart api'"),
    ("en", "shell", "curl -u admin:{URLPW} https://jenkins.example.com/job/build/api/json"),
    ("en", "shell", "docker login registry.example.com -u ci-bot --password {PASSWORD}\n# image tag {VERSION}, digest sha256:{SHA256}"),
    ("en", "json", "{\"db\": {\"host\": \"{IPV4}\", \"user\": \"svc\", \"pwd\": \"{PASSWORD}\"}, \"retries\": 3, \"version\": \"{VERSION}\"}"),
    ("en", "json", "{\"username\": \"{EMAIL}\", \"passphrase\": \"{SPACEDPHRASE}\", \"created\": \"{DATE}\"}"),
    ("en", "yaml", "mail:\n  user: {EMAIL}\n  pass: {PASSWORD}\n  host: smtp.example.com\n  port: 587\n"),
    ("en", "code", "# docs: set password: <password> and token: <your-token> before running\npassword: ********\ntoken: $API_TOKEN\n"),
    ("de", "code", "# Zugang\nBENUTZER=admin\nPASSWORT={PASSWORD}\nURL=ftp://backup:{URLPW}@ftp.firma-beispiel.de/archiv\n"),
    ("fr", "code", "# connexion\nDB_URL=postgresql://appli:{URLPW}@bdd.exemple.fr:5432/prod\nmot_de_passe={PASSWORD}\n"),
    ("es", "code", "{\"usuario\": \"admin\", \"contraseña\": \"{PASSWORD}\", \"servidor\": \"{IPV4}\", \"pedido\": \"{ORDERNO}\"}"),
    ("pt", "code", "{\"usuario\": \"{EMAIL}\", \"senha\": \"{PASSWORD}\", \"versao\": \"{VERSION}\"}"),
    ("nl", "code", "gebruiker: beheer\nwachtwoord: {PASSWORD}\nserver: {IPV4}\n"),
    ("ja", "code", "ユーザー: admin\nパスワード: {PASSWORD}\nホスト: {IPV4}\n"),
    ("it", "code", "utente=admin\npassword={PASSWORD}\nhost=db.esempio.it\n"),
    # Service tokens
    ("en", "prose", "Here's the token that keeps failing: {TOKEN}. It was created on {DATE}, build {VERSION}."),
    ("en", "code", "export HF_TOKEN={TOKEN}\npython train.py --epochs 3 --seed 42 --run-id {HEX32}\n"),
    ("en", "code", "client = Client(\"{TOKEN}\")\nresult = client.send(to=\"{EMAIL}\", template=\"welcome_v2\")\n"),
    ("en", "prose", "Rotate these leaked credentials today: {TOKEN} and {TOKEN}. The incident id is INC-2024-0611."),
    ("en", "code", "headers = {\"Authorization\": \"Bearer {TOKEN}\", \"X-Request-Id\": \"{UUID}\"}\n"),
    ("en", "code", "# .npmrc\n//registry.npmjs.org/:_authToken={TOKEN}\n# lockfile {SHA256}\n"),
    ("en", "code", "[pypi]\n  username = __token__\n  password = {TOKEN}\n"),
    ("en", "code", "bot = Bot(token=\"{TELEGRAM}\")  # created {DATE}\n"),
    ("en", "code", "requests.get(f\"https://api.telegram.org/bot{TELEGRAM}/getUpdates\", timeout=10)"),
    ("en", "code", "DefaultEndpointsProtocol=https;AccountName=assetsprod;AccountKey={AZUREKEY};EndpointSuffix=core.windows.net"),
    ("en", "code", "circleci:\n  CIRCLE_TOKEN={CITOKEN}\n  project: gh/example/api\n  pipeline: 1842\n"),
    ("en", "prose", "Our Travis token is {TRAVIS} and the CircleCI token is {CITOKEN}; both were in the public build log of {VERSION}."),
    ("en", "code", "aws_access_key_id = {SECRET}\naws_secret_access_key = {AWS_SECRET}\nregion = eu-west-1\n"),
    ("de", "prose", "Kannst du prüfen, warum dieser Schlüssel abgelehnt wird? {TOKEN} (erstellt am {DATE})."),
    ("fr", "prose", "Voici la clé qui ne marche plus : {TOKEN}. Le ticket est le 2024-FR-00981."),
    ("es", "prose", "Este token dejó de funcionar: {TOKEN}. Versión del cliente {VERSION}."),
    ("pt", "prose", "Este token vazou no repositório: {TOKEN}. Commit {SHA}."),
    ("it", "prose", "Questa chiave è stata pubblicata per errore: {TOKEN}. Revocala entro oggi."),
    ("nl", "prose", "Deze sleutel is gelekt: {TOKEN}. Intrekken graag, incident INC-4412."),
    ("ja", "prose", "このトークンが漏洩しました: {TOKEN} 至急無効化してください。"),
    ("pl", "prose", "Ten token wyciekł do logów: {TOKEN}. Wersja {VERSION}."),
    # Keyed random strings
    ("en", "code", "SECRET_KEY_BASE={KEYED}\nRAILS_ENV=production\nPORT=3000\n"),
    ("en", "code", "const signingKey = \"{KEYED}\";\nconst sortKey = \"created_at\";\nconst cacheKey = `user:${id}`;\n"),
    ("en", "code", "ENCRYPTION_KEY: \"{KEYED}\"\nprimary_key: id\npartition_key: tenant_id\nidempotency_key: order-2024-0042\n"),
    ("en", "json", "{\"webhook_secret\": \"{KEYED}\", \"event\": \"invoice.paid\", \"id\": \"{UUID}\", \"sha\": \"{SHA}\"}"),
    ("en", "json", "{\"credentials\": \"{KEYED}\", \"publicKey\": \"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\", \"key\": \"{IDENT}\"}"),
    ("en", "code", "HMAC_KEY = '{KEYED}'\nKEY_PREFIX = 'app'\nLOOKUP_KEY = '{IDENT}'\n"),
    ("en", "code", "app:\n  master_key: {KEYED}\n  session_key: {KEYED}\n  cache_key: {IDENT}\n"),
    ("en", "code", "docker run -e API_SECRET={KEYED} -e LOG_LEVEL=debug example/api:{VERSION}"),
    ("en", "prose", "The commit {SHA} changed the key handling; sha256 {SHA256} is the archive's checksum, and request {UUID} failed."),
    ("en", "prose", "The key is stored in Vault, the secret is rotated weekly and the token expires at {EPOCH}."),
    ("de", "code", "geheimnis:\n  api_secret: {KEYED}\n  sort_key: erstellt_am\n"),
    ("fr", "code", "API_KEY={KEYED}\n# jeton de session\nsession_token={KEYED}\n"),
    # National and international phones
    ("de", "prose", "Ruf mich bitte unter {NATIONAL} an, tagsüber bin ich unter {NATIONAL} erreichbar. Rechnung {ORDERNO} vom {DATE}."),
    ("de", "prose", "Handy: {BARENAT}, Festnetz: {NATIONAL}. Kundennummer KD-{DATE}."),
    ("en", "prose", "UK office: {NATIONAL}. Mobile: {NATIONAL}. Invoice {ORDERNO} is due on {DATE}."),
    ("en", "prose", "Call our Tokyo desk on {ASIAN} or the Seoul desk on {ASIAN}. The shipment {ORDERNO} left on {DATE}."),
    ("en", "prose", "Contacts: {INTLANY}, {INTLANY} and {INTLANY}. Amounts due: {AMOUNT}."),
    ("en", "prose", "You can reach me on {MOBILE} (mobile) or on WhatsApp at {INTLANY}. Order {ORDERNO}, version {VERSION}."),
    ("en", "csv", "name,phone,country\nAnna Kowalski,{INTLANY},PL\nRavi Patel,{INTLANY},IN\nLi Wei,{INTLANY},CN\nTest,0000,XX\n"),
    ("fr", "prose", "Mon portable : {NATIONAL}, le fixe du bureau : {INTLANY}. Facture {ORDERNO} du {DATE}."),
    ("es", "prose", "Llámame al {MOBILE} o al fijo {INTLANY}. El importe es {AMOUNT}, pedido {ORDERNO}."),
    ("pt", "prose", "Meu celular é {MOBILE}, o telefone fixo {INTLANY}. Pedido {ORDERNO} de {DATE}."),
    ("it", "prose", "Il mio cellulare: {MOBILE}; l'ufficio: {NATIONAL}. Ordine {ORDERNO} del {DATE}."),
    ("nl", "prose", "Bel me op {NATIONAL} of mobiel {NATIONAL}. Bestelling {ORDERNO} van {DATE}."),
    ("ja", "prose", "電話番号は {ASIAN} です。携帯は {ASIAN}。注文番号 {ORDERNO}、{DATE} 発送。"),
    ("ja", "prose", "連絡先：{INTLANY}（東京オフィス）。請求額 {AMOUNT}、バージョン {VERSION}。"),
    ("pl", "prose", "Mój telefon: {MOBILE}, biuro: {INTLANY}. Zamówienie {ORDERNO} z {DATE}."),
    ("zh", "prose", "我的手机是 {MOBILE}，办公室电话 {ASIAN}。订单号 {ORDERNO}，日期 {DATE}。"),
    ("ko", "prose", "제 전화번호는 {ASIAN} 입니다. 주문 번호 {ORDERNO}, 날짜 {DATE}."),
    ("sv", "prose", "Ring mig på {NATIONAL} eller mobil {INTLANY}. Faktura {ORDERNO}, belopp {AMOUNT}."),
    ("en", "logs", "2024-06-03T08:14:02Z sms.sent to={INTLANY} template=otp_v3 order={ORDERNO} ts={EPOCH} build={VERSION}"),
    ("de", "json", "{\"name\": \"Becker\", \"telefon\": \"{NATIONAL}\", \"mobil\": \"{BARENAT}\", \"auftrag\": \"{ORDERNO}\"}"),
    ("en", "prose", "Order numbers {ORDERNO} and {ORDERNO}, dates {DATE} and {DATE}, versions {VERSION} and {VERSION}: none of these is a phone number."),
    # Emails, cards, IBANs, SSNs in the forms people write
    ("en", "code", "GET /invite/accept?email={URLEMAIL}&ref=newsletter&ts={EPOCH} HTTP/1.1"),
    ("en", "logs", "[{DATE}] redirect https://app.example.com/login?next=%2Fbilling&user={URLEMAIL} status=302"),
    ("de", "prose", "Der Link https://portal.firma-beispiel.de/reset?mail={URLEMAIL} funktioniert nicht; Rabatt 40% gilt bis {DATE}."),
    ("en", "prose", "Please charge {CARDANY} for the renewal; the previous card {CARDANY} expired in 09/24."),
    ("en", "prose", "Cards on file: {CARDANY}, {CARDANY}. Rejected: {BADLUHN} (checksum). Order {ORDERNO}."),
    ("fr", "prose", "Ma carte bancaire est la {CARDANY}, l'ancienne {BADLUHN} a été refusée. Montant {AMOUNT}."),
    ("es", "prose", "Pagué con la tarjeta {CARDANY}; el número de seguimiento es {ORDERNO}."),
    ("ja", "prose", "クレジットカード番号は {CARDANY} です。有効期限は 12/27。"),
    ("it", "prose", "Il numero della carta è {CARDANY}. L'importo è {AMOUNT}."),
    ("en", "prose", "Pay the invoice to {IBANANY}; our old account {BADIBAN} is closed."),
    ("nl", "prose", "Mijn rekeningnummer is {IBANANY}. Het bedrag is {AMOUNT}."),
    ("pl", "prose", "Proszę o przelew na konto {IBANANY} do {DATE}."),
    ("pt", "prose", "O meu IBAN é {IBANANY}; a fatura {ORDERNO} vence em {DATE}."),
    ("it", "prose", "IBAN per il rimborso: {IBANANY}. Pratica {ORDERNO}."),
    ("en", "prose", "My employee number is 123456789 and the routing number is 021000021. For the tax form, my SSN is {SSNBARE}."),
    ("en", "form", "Applicant: Jane Roe\nSocial Security Number: {SSNBARE}\nOrder: {ORDERNO}\nSubmitted: {DATE}\n"),
    ("en", "json", "{\"applicant\": {\"ssn\": \"{SSNBARE}\", \"zip\": \"94043\", \"account\": \"987654321\"}, \"ts\": {EPOCH}}"),
]
TEMPLATES += NEW_TEMPLATES


# Written after the detectors above were tuned: ordinary text around the
# same words, and a few positives in new phrasings.
NEW_TEMPLATES += [
    ("en", "code", "git log --oneline\n{SHORTSHA} Fix token refresh\n{SHORTSHA} Bump version to {VERSION}\ncommit {SHA}\nAuthor: Jane <{EMAIL}>\n"),
    ("en", "prose", "Tokens per minute: 90000; secret santa on {DATE}; password reset links expire after 30 minutes; the pass rate was 97.5%."),
    ("en", "code", "def check(password: str) -> bool:\n    return len(password) >= 12 and password != 'changeme'\n\nAPI_KEY = os.getenv('API_KEY')\nkey = f\"{prefix}:{uid}\"\n"),
    ("de", "prose", "Passwort vergessen? Klicke auf 'Passwort zurücksetzen'. Der Token ist 15 Minuten gültig; Version {VERSION}, Vorgang {ORDERNO}."),
    ("fr", "prose", "Le jeton expire après 3600 secondes ; le mot de passe oublié se réinitialise via le lien du {DATE}. Commande {ORDERNO}."),
    ("ja", "prose", "パスワードを忘れた場合は、リセットリンクを使ってください。トークンの有効期限は {EPOCH} です。"),
    ("en", "logs", "{DATE} 10:15:22 INFO login ok user_id=48213 session_key={IDENT} trace_id={HEX32} latency_ms=18 build {VERSION}"),
    ("en", "prose", "Our build {SHA256} passed; the passphrase policy requires four words and the API key rotation runs at {EPOCH}."),
    ("es", "prose", "El soporte atiende de 9 a 18 h; el pedido {ORDERNO} se envió el {DATE} por {AMOUNT}."),
    ("nl", "code", "curl -X POST https://api.example.com/v2/orders -H 'Content-Type: application/json' -d '{\"order\": \"{ORDERNO}\", \"qty\": 3}'"),
    ("en", "prose", "Key facts: revenue grew 12% to {AMOUNT}; the secret sauce is our onboarding; token usage fell after {VERSION}."),
    ("pt", "prose", "Para redefinir a senha, acesse o portal; o token de acesso expira em 24 horas. Fatura {ORDERNO}."),
    ("it", "prose", "Per cambiare la password apri le impostazioni; il token scade dopo 1 ora. Versione {VERSION}, ordine {ORDERNO}."),
    ("en", "code", "ssh-keygen -t ed25519 -C \"{EMAIL}\"\n# fingerprint SHA256:{SHORTSHA}\nmysql -u report -p reporting  # prompts for the password\n"),
    ("de", "code", "DB_PASSWORD=$DB_PASSWORD\nAPI_TOKEN=<dein-token>\nSECRET_KEY=changeme\nsort_key=erstellt_am\n"),
    ("en", "prose", "I ran `psql postgres://localhost:5432/app` and `redis://cache:6379`, no credentials in either, then pinged {IPV4}."),
    ("zh", "prose", "请把密码重置链接发给我；订单号 {ORDERNO}，金额 {AMOUNT}。"),
    ("ko", "prose", "비밀번호를 잊으셨나요? 재설정 링크는 24시간 유효합니다. 버전 {VERSION}."),
    ("sv", "prose", "Lösenordet måste ha minst 12 tecken. Ordernummer {ORDERNO}, datum {DATE}."),
    ("en", "prose", "Heads up: the Wi-Fi passcode is {PASSWORD} and the door code changed."),
    ("de", "prose", "Zugangsdaten: Benutzer jdoe, Kennwort ist {PASSWORD}. Rückfragen unter {NATIONAL}."),
    ("fr", "code", "mysql -u admin -p{PASSWORD} --host={IPV4} compta"),
    ("en", "code", "redis-cli -u redis://default:{URLPW}@cache.internal:6379 PING"),
    ("es", "prose", "Te paso el token de GitLab: {TOKEN}. Caduca el {DATE}."),
    ("ja", "prose", "電話: {ASIAN}、メール: {EMAIL}。"),
    ("ko", "prose", "연락처: {ASIAN}, 이메일 {EMAIL}."),
    ("zh", "prose", "联系电话：{ASIAN}，邮箱 {EMAIL}。"),
    ("sv", "prose", "Mitt lösenord är {PASSWORD} — byt det efter mötet."),
    ("pl", "prose", "Hasło jest {PASSWORD}, nie udostępniaj go. Numer zamówienia {ORDERNO}."),
]
TEMPLATES += NEW_TEMPLATES[-29:]

def pem_inline():
    return pem().replace("\n", "\\n")

GEN["PEMINLINE"] = pem_inline
ENTITY["PEMINLINE"] = "SECRET"

def render(text):
    out, spans, pos = "", [], 0
    for m in re.finditer(r"\{([A-Z0-9_]+)\}", text):
        out += text[pos:m.start()]
        name = m.group(1)
        if name in NEG:
            out += NEG[name]()
        else:
            value = GEN[name]()
            start = len(out.encode())
            out += value
            spans.append({"entity": ENTITY.get(name, name), "start": start, "end": len(out.encode())})
        pos = m.end()
    out += text[pos:]
    return out, spans

def main():
    rows = []
    for round_ in range(5):
        for lang, fmt, template in TEMPLATES:
            text, spans = render(template)
            rows.append({"id": len(rows) + 1, "lang": lang, "format": fmt, "text": text, "spans": spans})
    with open("pii_eval.jsonl", "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    counts = {}
    for row in rows:
        for s in row["spans"]:
            counts[s["entity"]] = counts.get(s["entity"], 0) + 1
    print(len(rows), "texts", sum(counts.values()), "entities", counts)

if __name__ == "__main__":
    main()
