// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QCommandLineParser>
#include <QProcessEnvironment>
#include <QString>
#include <QStringList>
#include <QVariantMap>

#include <optional>

namespace Cachedash::detail {

// Where each option's value comes from; the first that has it wins: the command line, then the
// environment (CACHEDASH_<NAME>), then the --config file, then the window's saved settings.
class OptionSources
{
public:
    struct Value
    {
        QString text;
        QString origin; // how to name it in an error: --port, CACHEDASH_PORT, the saved setting
    };
    struct Values
    {
        QStringList texts;
        QString origin;
    };

    OptionSources(const QCommandLineParser &parser, const QProcessEnvironment &env, const QVariantMap &file,
        const QString &fileName, const QVariantMap &saved)
        : m_parser(parser)
        , m_env(env)
        , m_file(file)
        , m_fileName(fileName)
        , m_saved(saved)
    { }

    static QString envName(const QString &option)
    {
        return QStringLiteral("CACHEDASH_") + option.toUpper().replace(u'-', u'_');
    }

    // An INI value with commas reads as a list: for a single value, the commas are put back.
    static QString text(const QVariant &v)
    {
        return v.typeId() == QMetaType::QStringList ? v.toStringList().join(u',') : v.toString();
    }
    static QStringList texts(const QVariant &v)
    {
        if (v.typeId() == QMetaType::QStringList)
            return v.toStringList();
        QStringList out;
        for (const QString &part : v.toString().split(u',', Qt::SkipEmptyParts))
            out << part.trimmed();
        return out;
    }

    QString fileOrigin(const QString &name) const { return QStringLiteral("%1 in %2").arg(name, m_fileName); }

    std::optional<Value> value(const QString &name) const
    {
        if (m_parser.isSet(name))
            return Value{m_parser.value(name), QStringLiteral("--") + name};
        if (m_env.contains(envName(name)))
            return Value{m_env.value(envName(name)), envName(name)};
        if (m_file.contains(name))
            return Value{text(m_file.value(name)), fileOrigin(name)};
        if (m_saved.contains(name))
            return Value{text(m_saved.value(name)), QStringLiteral("the saved setting %1").arg(name)};
        return std::nullopt;
    }

    // Where a flag that is set comes from.
    QString flagOrigin(const QString &name) const
    {
        if (m_parser.isSet(name))
            return QStringLiteral("--") + name;
        if (m_env.contains(envName(name)))
            return envName(name);
        return fileOrigin(name);
    }

    // A flag's value from the environment or the file, when it is not one a flag takes: why.
    QString flagProblem(const QString &name) const
    {
        if (m_parser.isSet(name))
            return QString();
        QString v;
        if (m_env.contains(envName(name)))
            v = m_env.value(envName(name));
        else if (m_file.contains(name))
            v = text(m_file.value(name));
        else
            return QString();
        static const QStringList known{QStringLiteral("1"), QStringLiteral("true"), QStringLiteral("on"),
            QStringLiteral("yes"), QStringLiteral("0"), QStringLiteral("false"), QStringLiteral("off"),
            QStringLiteral("no"), QString()};
        if (known.contains(v.trimmed().toLower()))
            return QString();
        return QStringLiteral("%1 must be 1, true, on or yes (or 0, false, off, no) (got \"%2\")")
            .arg(m_env.contains(envName(name)) ? envName(name) : fileOrigin(name), v.left(40));
    }

    bool flag(const QString &name) const
    {
        if (m_parser.isSet(name))
            return true;
        QString v = m_env.value(envName(name)).toLower();
        if (!m_env.contains(envName(name)) && m_file.contains(name))
            v = text(m_file.value(name)).toLower();
        return v == u"1" || v == u"true" || v == u"on" || v == u"yes";
    }

    Values values(const QString &name) const
    {
        if (m_parser.isSet(name))
            return {m_parser.values(name), QStringLiteral("--") + name};
        if (m_env.contains(envName(name)))
            return {texts(m_env.value(envName(name))), envName(name)};
        if (m_file.contains(name))
            return {texts(m_file.value(name)), fileOrigin(name)};
        if (m_saved.contains(name))
            return {texts(m_saved.value(name)), QStringLiteral("the saved setting %1").arg(name)};
        return {};
    }

    bool readInt(const QString &name, qint64 min, qint64 max, qint64 &out, QString *error) const
    {
        const std::optional<Value> v = value(name);
        if (!v)
            return true;
        bool ok = false;
        const qint64 number = v->text.trimmed().toLongLong(&ok);
        if (!ok || number < min || number > max) {
            if (error)
                *error = QStringLiteral("%1 must be a whole number from %2 to %3 (got \"%4\")")
                             .arg(v->origin)
                             .arg(min)
                             .arg(max)
                             .arg(v->text.left(40));
            return false;
        }
        out = number;
        return true;
    }

private:
    const QCommandLineParser &m_parser;
    const QProcessEnvironment &m_env;
    const QVariantMap &m_file;
    const QString &m_fileName;
    const QVariantMap &m_saved;
};

// Reads an INI file of options (--config): keys named as the options (`known`), outside any
// section. Nothing, with *error, for a file that cannot be read or holds anything else.
std::optional<QVariantMap> readConfigFile(const QString &path, const QStringList &known, QString *error);

} // namespace Cachedash::detail
