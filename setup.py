"""Packaging for fcot, driven by settings.ini (nbdev 2.4 layout).

Written without `pkg_resources` (gone from setuptools 82), unlike nbdev 2's template."""
from configparser import ConfigParser
import setuptools

cfg = ConfigParser(delimiters=['='])
cfg.read('settings.ini', encoding='utf-8')
cfg = cfg['DEFAULT']

def reqs(key): return cfg.get(key, '').split()

setuptools.setup(
    name=cfg['lib_name'], version=cfg['version'], description=cfg['description'],
    author=cfg['author'], author_email=cfg['author_email'], license='Apache-2.0',
    packages=setuptools.find_packages(include=['fcot', 'fcot.*']),
    include_package_data=True, python_requires='>=' + cfg['min_python'],
    install_requires=reqs('requirements'),
    extras_require={'dev': reqs('dev_requirements'), 'peft': ['peft'], 'vllm': ['vllm'], 'openai': ['openai>=1.40']},
    entry_points={'console_scripts': cfg.get('console_scripts', '').split(),
                  'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"]},
    zip_safe=False)
