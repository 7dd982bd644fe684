"""Id photos that are images (issue 12.5): decoded whole by libjpeg-turbo,
libpng and giflib on the engine's hash threads, the pixel count checked
before decoding, and re-encoded as a JPEG, so EXIF (a GPS position) does
not survive; polyglots (JPEG+ZIP, PNG+HTML, GIF+script, HTML behind a GIF
header), a GIF comment, a damaged image and a decompression bomb are
refused with PHOTO_FORMAT; the photo is served with nosniff.  The images
are made with Debian's python3-pil, and the served one read back with it."""
import io
import json
import os
import struct
import subprocess
import zipfile
import zlib

from flows import MSG, Site, _chunk, b64, get_raw, idno, register_email
from harness import ROOT, Skip
from test_flows import expect

# Debian's python3-pil belongs to Debian's python: the images are made and
# read by it, whichever python runs the tests
PIL = r'''
import io, json, sys
from PIL import Image
cmd = sys.argv[1]
if cmd == "make":
    fmt, w, h, exif, interlace = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
    im = Image.new("RGB", (w, h))
    for x in range(w):
        for y in range(h):
            im.putpixel((x, y), ((x * 4) % 256, (y * 5) % 256, 128))
    kw = {"quality": 95} if fmt == "JPEG" else {}
    if interlace == "1":
        kw["interlace"] = True
    if exif == "1":
        ex = Image.Exif()
        ex[0x010F] = "PhoneMaker"
        ex[0x8825] = {1: "N", 2: (39.0, 54.0, 27.0), 3: "E", 4: (116.0, 23.0, 17.0)}
        kw["exif"] = ex
    out = io.BytesIO()
    im.save(out, fmt, **kw)
    sys.stdout.buffer.write(out.getvalue())
else:
    im = Image.open(io.BytesIO(sys.stdin.buffer.read()))
    x, y = int(sys.argv[2]), int(sys.argv[3])
    print(json.dumps({"format": im.format, "size": im.size, "exif": len(im.getexif()),
                      "pixel": im.convert("RGB").getpixel((x, y))}))
'''


def need_pil():
    r = subprocess.run(["/usr/bin/python3", "-c", "import PIL"], capture_output=True)
    if r.returncode != 0:
        raise Skip("python3-pil not installed (make deps)")


def pil_image(fmt, size=(64, 48), exif=False, interlace=False):
    r = subprocess.run(["/usr/bin/python3", "-c", PIL, "make", fmt, str(size[0]), str(size[1]),
                        "1" if exif else "0", "1" if interlace else "0"],
                       capture_output=True, check=True)
    return r.stdout


def inspect(data, x=0, y=0):
    r = subprocess.run(["/usr/bin/python3", "-c", PIL, "inspect", str(x), str(y)], input=data,
                       capture_output=True, check=True)
    return json.loads(r.stdout)


def bomb_png(side):
    """side x side RGB, all zeros: a few hundred KiB that decode to side*side*3 bytes."""
    row = b"\x00" + b"\x00" * (side * 3)
    z = zlib.compressobj(9)
    data = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    return (b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
            + _chunk(b"IDAT", data) + _chunk(b"IEND", b""))


def zip_bytes():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("payload.html", "<script>alert(1)</script>")
    return out.getvalue()


def applicant(site, api, n):
    """An account whose id number another has: it may upload a photo."""
    x = idno("11010119900101%d00" % n)
    old = register_email(site, "old%d@example.com" % n)
    expect(api.result("set_basic_info", account=old, name="王伟", id_type="resident",
                      id_no=x, phone="1371234%04d" % n), "OK")
    a = register_email(site, "new%d@example.com" % n)
    expect(api.result("set_basic_info", account=a, name="王伟", id_type="resident", id_no=x,
                      phone="1371235%04d" % n), "IDNO_REGISTERED")
    return a


def test_photos_decoded_and_reencoded(ctx):
    need_pil()
    site = Site(ctx)
    api = site.api()
    a = applicant(site, api, 1)
    jpeg = pil_image("JPEG")
    png = pil_image("PNG")
    gif = pil_image("GIF", interlace=True)
    refused = {
        "JPEG+ZIP": jpeg + zip_bytes(),
        "PNG+HTML": png + b"<html><script>alert(1)</script></html>",
        "GIF+script": b"GIF89a/*" + b"\x00" * 32 + b"*/=1;alert(document.domain);//",
        "HTML behind a GIF header": b"GIF89a<html><body><script>alert(1)</script>",
        "GIF with a comment": gif[:-1] + b"\x21\xfe\x05hello\x00;",
        "truncated JPEG": jpeg[:len(jpeg) // 2],
        "a PNG whose data fails its checksum": png[:-20] + bytes([png[-20] ^ 0xff]) + png[-19:],
        "a 6000x6000 bomb": bomb_png(6000),
        "not an image": b"%PDF-1.4\n",
        # 746 bytes, 97 scans (jpegtran -scans): each costs a pass over the image
        "a progressive JPEG of 97 scans": open(os.path.join(
            ROOT, "tests", "fixtures", "photos", "97-scans.jpg"), "rb").read(),
    }
    assert len(refused["a 6000x6000 bomb"]) < 300 * 1024
    for what, data in refused.items():
        r = api.result("id_photo_upload", account=a, photo=b64(data))
        assert r["code"] == "PHOTO_FORMAT" and r["message"] == MSG["PHOTO_FORMAT"], (what, r)
    assert api.account(a)["status"] == "active"
    # a camera's JPEG with its GPS position: taken, and kept without it
    exif_jpeg = pil_image("JPEG", size=(80, 60), exif=True)
    assert b"Exif" in exif_jpeg and b"PhoneMaker" in exif_jpeg
    res = api.result("id_photo_upload", account=a, photo=b64(exif_jpeg))
    expect(res, "OK")
    st, data, hdrs = get_raw(site.eng.port, "/v1/reviews/%s/photo" % res["review"],
                             front="kefu07")
    assert st == 200 and hdrs.get("content-type") == "image/jpeg", (st, hdrs)
    assert hdrs.get("x-content-type-options") == "nosniff", hdrs
    assert hdrs.get("cache-control") == "no-store", hdrs
    assert b"Exif" not in data and b"PhoneMaker" not in data and data != exif_jpeg
    im, src = inspect(data, 40, 30), inspect(exif_jpeg, 40, 30)
    assert im["format"] == "JPEG" and im["size"] == [80, 60] and im["exif"] == 0, im
    assert src["exif"] > 0, src
    # the pixels are the photo's (JPEG twice: close, not equal)
    assert max(abs(p - q) for p, q in zip(src["pixel"], im["pixel"])) < 24, (src, im)


def test_png_and_gif_become_jpeg(ctx):
    need_pil()
    site = Site(ctx)
    api = site.api()
    for n, (fmt, kw) in enumerate((("PNG", {}), ("GIF", {"interlace": True})), start=2):
        a = applicant(site, api, n)
        res = api.result("id_photo_upload", account=a, photo=b64(pil_image(fmt, **kw)))
        expect(res, "OK")
        st, data, hdrs = get_raw(site.eng.port, "/v1/reviews/%s/photo" % res["review"],
                                 front="kefu07")
        im = inspect(data, 10, 47)
        assert st == 200 and im["format"] == "JPEG" and im["size"] == [64, 48], (fmt, im)
        # an interlaced GIF drawn in the right rows: row 47's colour, not row 1's
        assert abs(im["pixel"][1] - (47 * 5) % 256) < 24, (fmt, im)
