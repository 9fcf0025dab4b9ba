# SPDX-License-Identifier: GPL-3.0-or-later
# The Qt restrictions every build of the sources uses (the main build and the fuzz targets):
# no implicit conversions between text and bytes or URLs, no Qt keywords, QStringBuilder.
add_compile_definitions(
    QT_NO_CAST_FROM_ASCII
    QT_NO_CAST_TO_ASCII
    QT_NO_CAST_FROM_BYTEARRAY
    QT_NO_URL_CAST_FROM_STRING
    QT_NO_KEYWORDS
    QT_NO_FOREACH
    QT_USE_QSTRINGBUILDER
    QT_STRICT_ITERATORS)
