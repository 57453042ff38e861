"""T.4 (MH, MR) and T.6 (MMR) fax page coding for the Class 1 engine and fax TIFF files.

page = encode_page(bitmap, "MR", k=4, min_row_bits=bit_rate * scan_ms // 1000)
modem_data = page.data            # LSB first, as a Class 1 modem sends it; DLE stuffing is the AT layer's
received = decode_page(data, "MR")  # received.bad_rows, received.longest_bad_run: copy quality
"""

from modem.t4.bits import BitOrder
from modem.t4.decode import MAX_ROWS, DecodedPage, decode_page
from modem.t4.encode import EncodedPage, Scheme, encode_page

__all__ = ["MAX_ROWS", "BitOrder", "DecodedPage", "EncodedPage", "Scheme", "decode_page", "encode_page"]
