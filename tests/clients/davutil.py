"""Small helpers to read multistatus answers the way clients do."""
import os
import xml.etree.ElementTree as ET

DATA = os.path.join(os.path.dirname(__file__), "..", "data", "clients")
NS = {"D": "DAV:", "C": "urn:ietf:params:xml:ns:caldav",
      "CS": "http://calendarserver.org/ns/", "A": "http://apple.com/ns/ical/"}


def body(client, name, **fill):
    text = open(os.path.join(DATA, client, name), encoding="utf-8").read()
    for k, v in fill.items():
        text = text.replace("{" + k + "}", v)
    return text.encode("utf-8")


def ics(client, uid):
    text = open(os.path.join(DATA, client, "event.ics"), encoding="utf-8").read()
    return text.replace("{uid}", uid).replace("\r\n", "\n").replace("\n", "\r\n").encode()


def q(tag):
    p, local = tag.split(":")
    return "{%s}%s" % (NS[p], local)


class Multistatus:
    """responses: href -> {"status": response-level status or None,
    "props": {clark: (status_code, element)}}"""

    def __init__(self, text):
        self.root = ET.fromstring(text)
        assert self.root.tag == q("D:multistatus"), self.root.tag
        self.responses = {}
        for r in self.root.findall("D:response", NS):
            href = r.find("D:href", NS).text
            status = r.find("D:status", NS)
            props = {}
            for ps in r.findall("D:propstat", NS):
                code = int(ps.find("D:status", NS).text.split()[1])
                for p in ps.find("D:prop", NS):
                    props[p.tag] = (code, p)
            self.responses[href] = {
                "status": int(status.text.split()[1]) if status is not None else None,
                "props": props}
        tok = self.root.find("D:sync-token", NS)
        self.sync_token = tok.text if tok is not None else None

    def prop(self, href, tag):
        """The element of a 200 property, or None."""
        code, el = self.responses[href]["props"].get(q(tag), (None, None))
        return el if code == 200 else None

    def status_of(self, href, tag):
        return self.responses[href]["props"].get(q(tag), (None, None))[0]

    def only(self):
        assert len(self.responses) == 1, list(self.responses)
        return next(iter(self.responses))


def href_text(el):
    h = el.find("D:href", NS)
    return h.text if h is not None else None


def privileges(el):
    return {p[0].tag for p in el.findall("D:privilege", NS)}
