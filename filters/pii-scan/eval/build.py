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
    ("en", "csv", "name,email,phone,ssn\n{PERSON=Jane Roe},{EMAIL},{NANP},{US_SSN}\n{PERSON=Omar Haddad},{EMAIL},{NANP},{US_SSN}\nTest User,test@invalid,555-0100,000-00-0000\n"),
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
    ("de", "csv", "Name;E-Mail;Telefon;IBAN\n{PERSON=Lukas Becker};{EMAIL};{INTL};{IBAN}\n{PERSON=Greta Schulz};{EMAIL};{INTL};{IBAN}\n"),
    ("de", "prose", "Mein Handy: {INTL}. Festnetz bitte nicht nutzen. Sozialversicherungsnummer habe ich keine US-SSN, nur 65 170839 J 003."),
    ("fr", "prose", "Bonjour, pouvez-vous répondre à {EMAIL} ? Le client attend un devis avant vendredi ; son numéro est le {FRPHONE}."),
    ("fr", "prose", "Voici mon RIB : {IBAN}. Merci de ne pas utiliser l'ancien compte, clôturé le 31/12/2023."),
    ("fr", "prose", "Le mot de passe du Wi-Fi invité est {PASSWORD}, et l'adresse de la box est {IPV4}."),
    ("fr", "prose", "Résume ce ticket : l'utilisateur {EMAIL} (tél. {FRPHONE}) signale une erreur 502 depuis la version 3.4.0."),
    ("fr", "json", "{\"nom\": \"Dubois\", \"courriel\": \"{EMAIL}\", \"tel\": \"{INTL}\", \"carte\": \"{CREDIT_CARD}\", \"commande\": \"CMD-2024-00917\"}"),
    ("fr", "logs", "2024-06-03 11:02:44,120 ERREUR connexion refusée pour {EMAIL} depuis {IPV4} (id {UUID})"),
    ("fr", "csv", "nom,courriel,téléphone\n{PERSON=Amélie Martin},{EMAIL},{FRPHONE}\n{PERSON=Pierre Moreau},{EMAIL},{INTL}\n"),
    ("es", "prose", "Hola, ¿puedes contestar a {EMAIL}? Quiere saber si el pedido 2024-55-1234 llegó; su móvil es {INTL}."),
    ("es", "prose", "Mi tarjeta es la {CREDIT_CARD} y la cuenta para la devolución es {IBAN}. Gracias."),
    ("es", "prose", "La contraseña: {PASSWORD} dejó de funcionar después de la actualización 2.3.9 del 12/05/2024."),
    ("es", "prose", "El servidor {IPV4} responde lento; el de respaldo {IPV6} está bien. Escríbeme a {EMAIL}."),
    ("es", "json", "{\"nombre\": \"{PERSON=Lucía López}\", \"correo\": \"{EMAIL}\", \"telefono\": \"{INTL}\", \"iban\": \"{IBAN}\", \"factura\": \"F-2024-000381\"}"),
    ("es", "code", "db:\n  host: {IPV4}\n  user: app\n  password: \"{PASSWORD}\"\n  pool: 10\napi:\n  key: TU_API_KEY\n"),
    ("en", "prose", "Please anonymise: Patient {PERSON=John Q. Public}, DOB 04/12/1980, SSN {US_SSN}, phone {NANP}, email {EMAIL}."),
    ("en", "prose", "Placeholders only: api_key=YOUR_API_KEY, token=<your-token>, password=********, sk-xxxxxxxxxxxxxxxxxxxx, AKIAXXXXXXXXXXXXXXXX."),
    ("en", "prose", "Hash check: {SHA} vs {SHA}; UUIDs {UUID} and {UUID}; released 2024-03-15T09:45:12Z as v10.2.0."),
    ("en", "prose", "Order numbers 2024-0001-7734, 123-45-67890 and 4000-1234-5678 are internal ids, not PII. ISBN 978-3-16-148410-0."),
    ("en", "prose", "The staging key is {SECRET} and prod uses a different one. Also our Slack bot posts as {EMAIL}."),
    ("en", "yaml", "smtp:\n  host: smtp.example.com\n  username: {EMAIL}\n  password: {PASSWORD}\nretries: 3\ntimeout: 30s\n"),
    ("en", "prose", "Wire from {IBAN} to {IBAN} failed with code 6612-88; retry after 10:30."),
    ("en", "prose", "My cards: {CREDIT_CARD} (personal) and {CREDIT_CARD} (company). Expiry 09/27 and 11/26."),
    ("en", "prose", "Reach support at {INTL} or {NANP}; our office is at {ADDRESS=1600 Example Ave, Suite 400}, zip 94043."),
    ("en", "prose", "Firewall rule: allow {IPV4}/32 and {IPV4}/24 to port 5432; deny 0.0.0.0/0 otherwise. Version 1.2.3.4 of the agent ignores this."),
    ("en", "code", "ssh -i ~/.ssh/id_ed25519 admin@{IPV4} 'systemctl restart api' # host key SHA256:{SHORTSHA}"),
    ("en", "prose", "Token for the webhook: {JWT}. It expires at 1717411200 (unix time)."),
    ("en", "prose", "These are the numbers you asked for: {PHONE}, {PHONE}, {PHONE}."),
    ("en", "prose", "Please check whether {BADCARD} is a valid card; the customer also sent {CREDIT_CARD}."),
    ("de", "prose", "Bitte sende die Unterlagen an {EMAIL} und ruf {INTL} an, falls Fragen sind; Aktenzeichen 12 O 345/23."),
    ("fr", "prose", "Appelez le {FRPHONE} ou écrivez à {EMAIL}. Référence dossier 2024-FR-00123."),
    ("de", "prose", "Rückruf bitte unter {DENATIONAL} (Festnetz, Berlin), nicht unter der Zentrale. Vorgang 2024-DE-0042."),
    ("es", "csv", "fecha;cliente;correo;teléfono\n2024-05-01;{PERSON=Mateo García};{EMAIL};{INTL}\n2024-05-02;{PERSON=Inés Fernández};{EMAIL};{INTL}\n"),
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
    ("en", "csv", "name,phone,country\n{PERSON=Anna Kowalski},{INTLANY},PL\n{PERSON=Ravi Patel},{INTLANY},IN\n{PERSON=Li Wei},{INTLANY},CN\nTest,0000,XX\n"),
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
    ("en", "form", "Applicant: {PERSON=Jane Roe}\nSocial Security Number: {SSNBARE}\nOrder: {ORDERNO}\nSubmitted: {DATE}\n"),
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


# --- Person names and street addresses: PERSON and ADDRESS, off by default ---
#
# Labelling rules. PERSON: a given name with its surname (middle names,
# initials and particles included: "Emily R. Thompson", "Sofía de la
# Fuente"); a surname after a title, without the title ("Dr. [Okafor]"); a
# lone given name only where it greets, signs or introduces ("Hi [Jane],",
# "Thanks,\n[Jane]", "my name is [Jane]"). Famous people are persons too
# ("[Marie Curie] discovered polonium"): fame does not tell whether a text is
# about a private person, and no list of the famous is kept. Not PERSON:
# companies, products, AI models and places named after people ("Hugo Boss",
# "Claude Sonnet", "San Francisco"), a lone given or family name elsewhere.
# ADDRESS: the street line in the order of its language (house number and
# street, a unit after it: "1600 Example Ave, Suite 400"), with the postal
# code and city when a postal code follows ("Hauptstraße 5, 10115 Berlin");
# a street, city or country named alone is not an address. A few forms the
# detector does not know (a street without a street-type word, "Am Markt 5",
# "Gran Vía 28") are in the set so that recall is not overstated.

EN_GIVEN = ["Emily", "James", "Sarah", "Michael", "Olivia", "Daniel", "Hannah", "Thomas", "Rachel", "Benjamin", "Imogen", "Declan", "Siobhan",
            "Rhys", "Marisol", "Kwame", "Priya", "Tobias", "Niamh", "Callum", "Harriet", "Desmond", "Eleanor", "Arjun", "Margaret", "Kevin"]
EN_SUR = ["Thompson", "Whitaker", "Okafor", "Nakamura", "Fitzgerald", "Brennan", "Castillo", "Hughes", "Patel", "Morrison", "Sullivan",
          "Kowalczyk", "Ashworth", "Delgado", "Lindqvist", "O'Connor", "MacLeod", "Harrington", "Osei", "Chen", "Abernathy", "Reyes",
          "Blackwood", "Pemberton", "Goldberg"]
DE_GIVEN = ["Lukas", "Anna", "Jonas", "Katharina", "Matthias", "Sabine", "Felix", "Johanna", "Tobias", "Ursula", "Wolfgang", "Leonie",
            "Friedrich", "Annegret", "Henning", "Mareike", "Detlef", "Wiebke", "Jannik", "Ilse"]
DE_SUR = ["Müller", "Schneider", "Fischer", "Weber", "Wagner", "Becker", "Hoffmann", "Schäfer", "Koch", "Richter", "Klein", "Wolf",
          "Schröder", "Neumann", "Schwarz", "Zimmermann", "Braun", "Krüger", "Hartmann", "Lange", "Krause", "Lehmann", "Köhler",
          "Maier", "von Arnim"]
FR_GIVEN = ["Camille", "Julien", "Élodie", "Mathieu", "Sophie", "Antoine", "Céline", "Nicolas", "Manon", "Thierry", "Aurélie",
            "François", "Margaux", "Benoît", "Solène", "Gaëtan", "Maëlle", "Yannick", "Ophélie", "Loïc"]
FR_SUR = ["Dubois", "Lefèvre", "Moreau", "Laurent", "Girard", "Bonnet", "Dupont", "Lambert", "Fontaine", "Rousseau", "Vincent",
          "Mercier", "Blanc", "Guérin", "Faure", "Chevalier", "Garnier", "Perrin", "Lemaire", "de Villiers"]
ES_GIVEN = ["Lucía", "Javier", "Carmen", "Alejandro", "Marta", "Diego", "Sofía", "Pablo", "Elena", "Álvaro", "Nerea", "Íñigo",
            "Rocío", "Gonzalo", "Itziar", "Xavier", "Maite", "Joaquín", "Begoña", "Iker"]
ES_SUR = ["García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Martín", "Jiménez",
          "Ruiz", "Hernández", "Díaz", "Moreno", "Álvarez", "Romero", "Navarro", "Torres", "de la Fuente"]
NAMES = {"EN": (EN_GIVEN, EN_SUR), "DE": (DE_GIVEN, DE_SUR), "FR": (FR_GIVEN, FR_SUR), "ES": (ES_GIVEN, ES_SUR)}

def full_name(lang):
    given, sur = NAMES[lang]
    first = rng.choice(given)
    if lang == "EN" and rng.random() < 0.15:
        first += f" {rng.choice(string.ascii_uppercase)}."
    if lang == "FR" and rng.random() < 0.15:
        first += "-" + rng.choice(["Pierre", "Marie", "Luc", "Claire"])
    last = rng.choice(sur)
    if lang == "ES" and rng.random() < 0.5:
        last += " " + rng.choice([s for s in sur if s != last and not s.startswith("de ")])
    if lang == "DE" and rng.random() < 0.1:
        last += "-" + rng.choice(["Lüdenscheidt", "Berger", "Brandt"])
    return f"{first} {last}"

for _lang in NAMES:
    GEN[f"PERSON_{_lang}"] = (lambda l: lambda: full_name(l))(_lang)
    GEN[f"GIVEN_{_lang}"] = (lambda l: lambda: rng.choice(NAMES[l][0]))(_lang)
    GEN[f"SURNAME_{_lang}"] = (lambda l: lambda: rng.choice(NAMES[l][1]))(_lang)
    for _kind in ("PERSON", "GIVEN", "SURNAME"):
        ENTITY[f"{_kind}_{_lang}"] = "PERSON"

EN_STREETS = ["Maple", "Oak", "Cedar", "Elm", "Pine", "Willow", "Harbor", "Lincoln", "Highland", "Sunset", "Riverside", "Chestnut",
              "Mill", "Church", "Park", "Station", "Victoria", "King", "Market", "Walnut"]
EN_TYPES = ["Street", "St", "Avenue", "Ave", "Road", "Rd", "Lane", "Boulevard", "Blvd", "Drive", "Court", "Place", "Way", "Terrace"]
US_CITIES = [("Springfield", "IL"), ("Portland", "OR"), ("Austin", "TX"), ("Columbus", "OH"), ("Denver", "CO"), ("Madison", "WI"),
             ("Raleigh", "NC"), ("Salem", "MA"), ("San Jose", "CA"), ("Fort Collins", "CO")]
UK_CITIES = ["London", "Leeds", "Bristol", "Cambridge", "Manchester", "York"]

def uk_postcode():
    letters = lambda n: "".join(rng.choice("ABDEFGHJLNPQRSTUWXYZ") for _ in range(n))
    return f"{letters(rng.choice([1, 2]))}{rng.randint(1, 20)} {rng.randint(1, 9)}{letters(2)}"

def address_en():
    number = rng.choice([str(rng.randint(1, 99)), str(rng.randint(100, 9999)), f"{rng.randint(1, 300)}{rng.choice('AB')}"])
    name = rng.choice(EN_STREETS)
    if rng.random() < 0.2:
        name = rng.choice(["North", "West", "East", "South", "Old", "New"]) + " " + name
    line = f"{number} {name} {rng.choice(EN_TYPES)}"
    if rng.random() < 0.2:
        line += rng.choice([", Apt 4B", ", Suite 210", ", Unit 7", " #12", ", Apt. 3"])
    r = rng.random()
    if r < 0.4:
        city, state = rng.choice(US_CITIES)
        line += f", {city}, {state} {digits(5)}"
    elif r < 0.5:
        line += f", {rng.choice(UK_CITIES)} {uk_postcode()}"
    return line

def address_en_unknown():
    return rng.choice(["One Microsoft Way", "PO Box 1187", "Flat 3, Rosewood House", "Unit 12, Riverside Industrial Estate"])

DE_STEMS = ["Haupt", "Bahnhof", "Schiller", "Goethe", "Linden", "Birken", "Garten", "Kirch", "Schul", "Berg", "Wald", "Rosen", "Mozart",
            "Friedrich-Ebert-", "Karl-Marx-", "Heinrich-Heine-"]
DE_SUFFIXES = ["straße", "straße", "str.", "strasse", "weg", "allee", "platz", "gasse"]
DE_CITIES = [("10115", "Berlin"), ("80331", "München"), ("50667", "Köln"), ("20095", "Hamburg"), ("60311", "Frankfurt am Main"),
             ("70173", "Stuttgart"), ("1010", "Wien"), ("8001", "Zürich"), ("04109", "Leipzig")]

def address_de():
    r = rng.random()
    if r < 0.1:
        line = rng.choice(["Am Markt", "Unter den Linden", "An der Alster", "Im Winkel"]) + f" {rng.randint(1, 40)}"
    elif r < 0.3:
        line = rng.choice(["Berliner", "Frankfurter", "Kölner", "Münchner", "Alte", "Neue"]) + " " + rng.choice(["Straße", "Str.", "Allee", "Weg", "Platz"])
        line += f" {rng.randint(1, 180)}"
    else:
        stem = rng.choice(DE_STEMS)
        suffix = rng.choice(DE_SUFFIXES)
        if stem.endswith("-"):
            suffix = suffix.capitalize()
        line = f"{stem}{suffix} {rng.randint(1, 180)}{rng.choice(['', '', '', 'a', 'b'])}"
    if rng.random() < 0.5:
        code, city = rng.choice(DE_CITIES)
        line += rng.choice([", ", ", ", "\n"]) + f"{code} {city}"
    return line

FR_TYPES = ["rue", "rue", "avenue", "boulevard", "place", "chemin", "allée", "impasse", "quai"]
FR_STREETS = ["de la République", "Victor Hugo", "des Lilas", "du Général Leclerc", "Jean Jaurès", "de la Paix", "Saint-Michel",
              "des Écoles", "Pasteur", "de la Gare", "du Moulin", "des Vignes", "Gambetta", "de Verdun", "Émile Zola"]
FR_CITIES = [("75006", "Paris"), ("69002", "Lyon"), ("33000", "Bordeaux"), ("13001", "Marseille"), ("31000", "Toulouse"),
             ("44000", "Nantes"), ("67000", "Strasbourg"), ("42000", "Saint-Étienne"), ("13100", "Aix-en-Provence")]

def address_fr():
    kind = rng.choice(FR_TYPES)
    if rng.random() < 0.2:
        kind = kind.capitalize()
    number = str(rng.randint(1, 150)) + rng.choice(["", "", "", "", " bis", " ter"])
    line = f"{number}{rng.choice(['', '', ','])} {kind} {rng.choice(FR_STREETS)}"
    if rng.random() < 0.5:
        code, city = rng.choice(FR_CITIES)
        line += rng.choice([", ", ", ", " ", "\n"]) + f"{code} {city}"
    return line

ES_TYPES = ["Calle", "calle", "Avenida", "avenida", "Avda.", "Plaza", "plaza", "Paseo", "C/"]
ES_STREETS = ["Mayor", "de Alcalá", "del Prado", "de la Constitución", "de Gracia", "Real", "de San Bernardo", "Serrano",
              "de la Castellana", "del Carmen", "de Colón", "Nueva", "de los Reyes Católicos", "de Andalucía"]
ES_CITIES = [("28013", "Madrid"), ("08007", "Barcelona"), ("41001", "Sevilla"), ("46002", "Valencia"), ("29015", "Málaga"),
             ("48001", "Bilbao"), ("50001", "Zaragoza")]

def address_es():
    if rng.random() < 0.1:
        line = rng.choice(["Gran Vía", "Rambla de Catalunya", "Ronda Sant Pere"]) + f" {rng.randint(1, 90)}"
    else:
        line = f"{rng.choice(ES_TYPES)} {rng.choice(ES_STREETS)}{rng.choice([' ', ' ', ', ', ', nº '])}{rng.randint(1, 120)}"
    if rng.random() < 0.5:
        code, city = rng.choice(ES_CITIES)
        line += rng.choice([", ", ", ", " ", "\n"]) + f"{code} {city}"
    return line

GEN.update({"ADDRESS_EN": lambda: address_en() if rng.random() < 0.93 else address_en_unknown(), "ADDRESS_DE": address_de,
            "ADDRESS_FR": address_fr, "ADDRESS_ES": address_es})
ENTITY.update({"ADDRESS_EN": "ADDRESS", "ADDRESS_DE": "ADDRESS", "ADDRESS_FR": "ADDRESS", "ADDRESS_ES": "ADDRESS"})

# Hard negatives for names and addresses, unlabelled.
NEG.update({
    "PLACE": lambda: rng.choice(["Paris", "Berlin", "New York", "San Francisco", "Buenos Aires", "Los Angeles", "Santa Monica", "Saint Louis",
                                 "Costa Rica", "Frankfurt am Main", "Aix-en-Provence", "Santiago de Chile", "Charlotte", "Florence",
                                 "Victoria", "Georgetown", "Hong Kong", "Mont Blanc", "Lake Geneva", "South Africa", "Nueva York"]),
    "COMPANY": lambda: rng.choice(["Goldman Sachs", "Morgan Stanley", "Deutsche Bank", "Société Générale", "Banco Santander", "El Corte Inglés",
                                   "Microsoft Teams", "Google Meet", "GitHub Actions", "Visual Studio Code", "Adobe Acrobat Reader",
                                   "Salesforce Service Cloud", "Hugo Boss", "Louis Vuitton", "Tim Hortons", "Wells Fargo", "Johnson Controls",
                                   "Claude Sonnet", "Claude Opus", "Gemini Pro", "Mistral Large", "Siemens Healthineers", "Air France",
                                   "Crédit Agricole", "Real Madrid", "Ernst & Young", "Marks & Spencer"]),
    "CODEID": lambda: rng.choice(["JohnDoeService", "user.FirstName", "James_Bond_007", "getAnnaConfig()", "MaxRetries", "HttpClient",
                                  "MarkdownRenderer", "PeterPanTest", "Thomas.Algorithm", "class EmilyBot", "ELIZABETH_TOWER", "@Victoria"]),
    "OSVERSION": lambda: rng.choice(["Ubuntu 22.04 Jammy Jellyfish", "Debian 12 Bookworm", "macOS Sonoma 14.4", "Android 14 Upside Down Cake",
                                     "Fedora 40 Workstation", "Windows 11 Pro 23H2", "Python 3.12.2", "Node 20 Iron", "Kubernetes 1.30 Uwubernetes"]),
})

NAME_TEMPLATES = [
    # English: names
    ("en", "prose", "Hi, my name is {PERSON_EN} and I can't log in since yesterday. Order {ORDERNO}."),
    ("en", "prose", "Please summarise this thread between {PERSON_EN} and {PERSON_EN} about the Q3 budget; keep it under 100 words."),
    ("en", "email", "Dear Mr. {SURNAME_EN},\n\nThank you for your application. We would like to invite you to an interview on {DATE}.\n\nBest regards,\n{PERSON_EN}\nHead of Talent"),
    ("en", "email", "Hi {GIVEN_EN},\n\nthe invoice is attached. Let me know if anything is missing.\n\nThanks,\n{GIVEN_EN}"),
    ("en", "form", "Name: {PERSON_EN}\nDate of birth: 1984-03-12\nPolicy: HX-55120\nPolicy start: {DATE}\n"),
    ("en", "json", "{\"customer\": {\"full_name\": \"{PERSON_EN}\", \"tier\": \"gold\", \"since\": \"{DATE}\"}}"),
    ("en", "prose", "Can you write a reference letter for {PERSON_EN}? She led our data team from 2019 to 2023."),
    ("en", "notes", "Meeting notes {DATE}: {PERSON_EN} presented the roadmap; {PERSON_EN} raised concerns about hiring; next review in two weeks."),
    ("en", "prose", "Dr. {SURNAME_EN} will see the patient at 10:30; Ms. {PERSON_EN} from accounting needs to approve invoice INV-2291 first."),
    ("en", "prose", "Forward the contract to {PERSON_EN} today and copy Mrs. {SURNAME_EN}."),
    ("en", "csv", "employee,department,start\n{PERSON_EN},Finance,{DATE}\n{PERSON_EN},Legal,{DATE}\n"),
    ("en", "prose", "Explain how {PERSON=Ada Lovelace}'s notes anticipated modern programming, and compare them with {PERSON=Alan Turing}'s 1936 paper."),
    ("en", "prose", "{PERSON=Marie Curie} won two Nobel Prizes; summarise her work on radioactivity for a school project."),
    ("en", "prose", "Write a short bio of {PERSON=Nelson Mandela} and one of {PERSON=Grace Hopper} for the museum panels."),
    # English: addresses
    ("en", "prose", "Please ship the replacement to {ADDRESS_EN} before Friday; the order is {ORDERNO}."),
    ("en", "prose", "Our office moved to {ADDRESS_EN}. Update the footer of the newsletter and the contact page."),
    ("en", "form", "Billing address: {ADDRESS_EN}\nCard ending 4242\nInvoice {ORDERNO}\n"),
    ("en", "prose", "I live at {ADDRESS_EN} and my neighbour at {ADDRESS_EN} keeps receiving my parcels. Draft a complaint to the courier."),
    ("en", "json", "{\"shipping\": {\"line1\": \"{ADDRESS_EN}\", \"country\": \"US\"}, \"items\": 3}"),
    # English: hard negatives
    ("en", "prose", "Will the migration finish before Friday? Grace periods apply to late invoices. Mark the ticket as done and Bill the client in May."),
    ("en", "prose", "Compare {COMPANY} and {COMPANY} for a 40-person company; we also looked at {COMPANY}."),
    ("en", "prose", "The team in {PLACE} hands over to {PLACE} at 17:00; flights via {PLACE} were cancelled."),
    ("en", "prose", "Wall Street analysts expect 3 rate cuts; the road ahead is long, and Main Street retailers saw 12% growth. Take Highway 101 north."),
    ("en", "code", "const svc = new {CODEID}(); // see {CODEID} and {CODEID}\nexport default svc;\n"),
    ("en", "prose", "Upgrade from {OSVERSION} to {OSVERSION} before the audit; version {VERSION} of the agent is required."),
    ("en", "email", "Dear Customer,\n\nyour order {ORDERNO} has shipped.\n\nKind regards,\nThe Support Team"),
    ("en", "email", "Dear Hiring Manager,\n\nplease find my CV attached.\n\nHi Team, quick update: Release 4 Street View tiles are live."),
    ("en", "prose", "Ask Claude Sonnet to review the diff, then let Gemini Pro write the tests; Chapter 3 covers Abbey Road and Oxford Street."),
    ("en", "prose", "Sesame Street episode 4 and the Champs-Élysées scene; Park Avenue, Baker Street and Route 66 are famous streets."),
    # German: names
    ("de", "prose", "Hallo, mein Name ist {PERSON_DE} und ich habe eine Frage zu meiner Rechnung {ORDERNO}."),
    ("de", "email", "Sehr geehrte Frau {SURNAME_DE},\n\nvielen Dank für Ihre Anfrage vom {DATE}.\n\nMit freundlichen Grüßen\n{PERSON_DE}"),
    ("de", "email", "Sehr geehrter Herr {SURNAME_DE},\n\nanbei das Angebot.\n\nViele Grüße\n{GIVEN_DE}"),
    ("de", "prose", "Bitte leite die Nachricht an {PERSON_DE} weiter und setze {PERSON_DE} in CC."),
    ("de", "form", "Ansprechpartner: {PERSON_DE}\nAbteilung: Einkauf\nDurchwahl: -214\n"),
    ("de", "notes", "Protokoll vom {DATE}: {PERSON_DE} stellt das Budget vor, {PERSON_DE} übernimmt die Planung."),
    # German: addresses
    ("de", "prose", "Bitte liefern Sie an {ADDRESS_DE}. Die Bestellung {ORDERNO} ist bezahlt."),
    ("de", "prose", "Unsere neue Anschrift lautet {ADDRESS_DE}; die alte Adresse {ADDRESS_DE} bitte löschen."),
    ("de", "form", "Rechnungsadresse:\n{ADDRESS_DE}\nKundennummer KD-{DATE}\n"),
    # German: hard negatives
    ("de", "prose", "Die Straße war wegen Bauarbeiten gesperrt; Platz 3 in der Tabelle ging an Leipzig, Arbeitsplatz 12 ist frei, Lösungsweg 2 ist kürzer."),
    ("de", "prose", "Der Kunde wohnt in {PLACE}; die Filiale der {COMPANY} am Hauptbahnhof schließt um 18 Uhr."),
    ("de", "email", "Sehr geehrte Damen und Herren,\n\nanbei die Unterlagen.\n\nMit freundlichen Grüßen\nIhr Kundenservice"),
    ("de", "prose", "Im Sprint 14 Planung Meeting besprechen wir Version 3, die Frankfurter Allee und die Königsallee als Standorte."),
    # French: names
    ("fr", "prose", "Bonjour, je m'appelle {PERSON_FR} et je souhaite modifier ma commande {ORDERNO}."),
    ("fr", "email", "Madame {SURNAME_FR},\n\nJe vous remercie pour votre retour du {DATE}.\n\nCordialement,\n{PERSON_FR}"),
    ("fr", "prose", "M. {SURNAME_FR} a validé le devis ; Mme {PERSON_FR} est absente jusqu'au 12 mai."),
    ("fr", "prose", "Pouvez-vous résumer l'échange entre {PERSON_FR} et {PERSON_FR} au sujet du budget ?"),
    ("fr", "form", "Nom : {PERSON_FR}\nService : comptabilité\nPoste : 3312\n"),
    ("fr", "prose", "Rédige une courte biographie de {PERSON=Victor Hugo} et de {PERSON=Simone de Beauvoir} pour l'exposition."),
    # French: addresses
    ("fr", "prose", "Merci de livrer au {ADDRESS_FR} avant vendredi ; la commande {ORDERNO} est payée."),
    ("fr", "prose", "Notre siège a déménagé au {ADDRESS_FR}. Mettez à jour le pied de page."),
    ("fr", "form", "Adresse de facturation :\n{ADDRESS_FR}\nFacture {ORDERNO}\n"),
    # French: hard negatives
    ("fr", "prose", "La rue était bondée ; sur la place du marché, 3 stands vendaient des fleurs et le boulevard périphérique était fermé."),
    ("fr", "prose", "Le client habite à {PLACE} ; {COMPANY} et {COMPANY} ont répondu à l'appel d'offres."),
    ("fr", "email", "Bonjour à tous,\n\nla réunion est déplacée.\n\nCordialement,\nLe service client"),
    # Spanish: names
    ("es", "prose", "Hola, me llamo {PERSON_ES} y tengo un problema con mi pedido {ORDERNO}."),
    ("es", "email", "Estimado Sr. {SURNAME_ES}:\n\nle escribo en relación con su reclamación del {DATE}.\n\nAtentamente,\n{PERSON_ES}"),
    ("es", "email", "Estimada Sra. {SURNAME_ES}:\n\nadjunto la factura.\n\nSaludos,\n{GIVEN_ES}"),
    ("es", "prose", "Por favor, reenvía el informe a {PERSON_ES} y a {PERSON_ES} antes del viernes."),
    ("es", "form", "Nombre: {PERSON_ES}\nDepartamento: Ventas\nExtensión: 2207\n"),
    ("es", "prose", "Resume la obra de {PERSON=Gabriel García Márquez} y de {PERSON=Frida Kahlo} en dos párrafos."),
    # Spanish: addresses
    ("es", "prose", "Envíe el paquete a {ADDRESS_ES}; el pedido {ORDERNO} ya está pagado."),
    ("es", "prose", "Nuestra nueva oficina está en {ADDRESS_ES}. Actualiza la web, por favor."),
    ("es", "form", "Dirección de envío:\n{ADDRESS_ES}\nFactura {ORDERNO}\n"),
    # Spanish: hard negatives
    ("es", "prose", "La calle estaba cortada por obras y la Plaza Mayor estaba llena; en la avenida había 3 coches parados."),
    ("es", "prose", "El cliente vive en {PLACE}; {COMPANY} y {COMPANY} presentaron ofertas."),
    ("es", "email", "Estimado cliente:\n\nsu pedido ha sido enviado.\n\nUn saludo,\nEl equipo de soporte"),
    # More addresses, in the four languages
    ("en", "prose", "The courier left the parcel at {ADDRESS_EN} instead of {ADDRESS_EN}; can you write to them?"),
    ("en", "csv", "name,street,notes\nwarehouse,{ADDRESS_EN},dock 4\nstore,{ADDRESS_EN},closed Sundays\n"),
    ("de", "prose", "Der Termin findet in unserem Büro in der {ADDRESS_DE} statt, Eingang über den Hof."),
    ("de", "csv", "Filiale;Adresse;Öffnungszeiten\nNord;{ADDRESS_DE};8-18\nSüd;{ADDRESS_DE};9-17\n"),
    ("fr", "prose", "Le rendez-vous a lieu au {ADDRESS_FR}, 2e étage ; l'ancienne adresse, {ADDRESS_FR}, n'est plus valable."),
    ("fr", "csv", "agence;adresse\nNord;{ADDRESS_FR}\nSud;{ADDRESS_FR}\n"),
    ("es", "prose", "La reunión será en {ADDRESS_ES}; la dirección antigua, {ADDRESS_ES}, ya no es válida."),
    ("es", "csv", "tienda;dirección\nCentro;{ADDRESS_ES}\nNorte;{ADDRESS_ES}\n"),
]

# Written after the PERSON and ADDRESS detectors were tuned on the templates
# above: new phrasings, and negatives the rules were not shaped by.
NAME_TEMPLATES += [
    ("en", "prose", "Attendees: {PERSON_EN}, {PERSON_EN} and {PERSON_EN}. Apologies from the finance team."),
    ("en", "prose", "The package for {PERSON_EN} should go to {ADDRESS_EN}, not to the warehouse on Harbor Road."),
    ("en", "code", "git commit --author=\"{PERSON_EN}\" -m 'Fix null check in {CODEID}'"),
    ("en", "prose", "In 2019 Oak Street Health was acquired; How Daniel Built A Startup In Six Months is the headline we need to shorten."),
    ("en", "prose", "Kind regards from the whole team at Northwind Traders, and thanks to Microsoft Azure for the credits."),
    ("de", "prose", "Herr {SURNAME_DE} und Frau {SURNAME_DE} haben den Vertrag am {DATE} unterschrieben."),
    ("de", "prose", "Die Lieferadresse ist {ADDRESS_DE}, bitte im Hinterhaus klingeln."),
    ("de", "prose", "Im Mai eröffnet die Filiale in der Kaiserstraße; Seite 12 Abschnitt 3 beschreibt den Umbau. {PERSON=Thomas Mann} schrieb den Zauberberg."),
    ("fr", "prose", "Le dossier de {PERSON_FR} est complet ; envoyez la réponse à Mme {SURNAME_FR}."),
    ("fr", "prose", "Rendez-vous au {ADDRESS_FR} à 14 h, au deuxième étage."),
    ("fr", "prose", "Les 3 avenues principales mènent à La Défense ; le 14 juillet, place de la Bastille, le Crédit Lyonnais était fermé."),
    ("es", "prose", "La solicitud de {PERSON_ES} está pendiente; avisa a la Sra. {SURNAME_ES} cuanto antes."),
    ("es", "prose", "Nos vemos en {ADDRESS_ES} a las 10, en la segunda planta."),
    ("es", "prose", "El 12 de octubre la Plaza de España estaba llena; Calle 13 tocó en el Palacio de los Deportes."),
]

def render(text):
    out, spans, pos = "", [], 0
    for m in re.finditer(r"\{([A-Z0-9_]+)(?:=([^{}]*))?\}", text):
        out += text[pos:m.start()]
        name = m.group(1)
        if m.group(2) is not None:
            # A value written inline, labelled as `name`: {PERSON=Jane Roe}.
            start = len(out.encode())
            out += m.group(2)
            spans.append({"entity": name, "start": start, "end": len(out.encode())})
        elif name in NEG:
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
    # Names and addresses after the rest, so the rows above stay as they were;
    # a template without slots is rendered once.
    for round_ in range(5):
        for lang, fmt, template in NAME_TEMPLATES:
            if round_ == 0 or re.search(r"\{[A-Z0-9_]+\}", template):
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
